//! Bad deployments are refused with INVALID_ARGUMENT naming the field, and nothing is created.

use eyrie_proto::v1 as pb;
use tonic::Code;

use crate::harness::{
    APPS, DEV, EU, WEB, as_admin, assert_refused, create, create_request, each_service, odoo,
    outbox, seed,
};

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_created() {
    let digest = "0123456789abcdef".repeat(4);
    let cases: Vec<(&str, &str, pb::Deployment, &str)> = vec![
        ("Shop_1", WEB, odoo("Shop"), "deployment_id"),
        (
            "shop",
            WEB,
            pb::Deployment {
                display_name: String::new(),
                ..odoo("")
            },
            "deployment.display_name",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                image: "Odoo:17.0".into(),
                ..odoo("Shop")
            },
            "deployment.image",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                image: "odoo:".into(),
                ..odoo("Shop")
            },
            "deployment.image",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                image: "odoo 17".into(),
                ..odoo("Shop")
            },
            "deployment.image",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                image: format!("odoo@sha256:{}", &digest[1..]),
                ..odoo("Shop")
            },
            "deployment.image",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                branch: "feature..x".into(),
                ..odoo("Shop")
            },
            "deployment.branch",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                branch: "-main".into(),
                ..odoo("Shop")
            },
            "deployment.branch",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                branch: "main.lock".into(),
                ..odoo("Shop")
            },
            "deployment.branch",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                repository: "github.com/acme/shop".into(),
                ..odoo("Shop")
            },
            "deployment.repository",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                repository: "https://user:pw@github.com/acme/shop".into(),
                ..odoo("Shop")
            },
            "deployment.repository",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                repository: String::new(),
                ..odoo("Shop")
            },
            "deployment.repository",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                branch: String::new(),
                ..odoo("Shop")
            },
            "deployment.branch",
        ),
        (
            "shop",
            APPS,
            pb::Deployment {
                image: String::new(),
                ..odoo("Shop")
            },
            "deployment.image",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                scope: "projects/acme/scopes/staging".into(),
                ..odoo("Shop")
            },
            "deployment.scope",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                scope: "projects/other/scopes/dev".into(),
                ..odoo("Shop")
            },
            "deployment.scope",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                scope: String::new(),
                ..odoo("Shop")
            },
            "deployment.scope",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                clusters: vec![EU.into(), "projects/acme/clusters/mars".into()],
                ..odoo("Shop")
            },
            "deployment.clusters[1]",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                clusters: vec![EU.into(), EU.into()],
                ..odoo("Shop")
            },
            "deployment.clusters[1]",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                clusters: vec![],
                ..odoo("Shop")
            },
            "deployment.clusters",
        ),
        (
            "shop",
            WEB,
            pb::Deployment {
                parameters: [("db-host".to_owned(), "x".to_owned())].into(),
                ..odoo("Shop")
            },
            "deployment.parameters",
        ),
    ];
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        for (id, group, deployment, field) in &cases {
            let context = format!("{backend}: {field} in {deployment:?}");
            let refused = running
                .client
                .create_deployment(as_admin(create_request(group, id, deployment.clone())))
                .await;
            assert_refused(refused, Code::InvalidArgument, field, &context);
        }
        let listed = running
            .client
            .list_deployments(pb::ListDeploymentsRequest {
                parent: WEB.into(),
                show_dropped: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.deployments.is_empty(), "{backend}: {listed:?}");
        assert!(
            outbox(&running.db, "projects/acme/groups/web/deployments/shop")
                .await
                .is_empty()
        );
    }
}

#[tokio::test]
async fn several_bad_fields_are_named_together() {
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        let refused = running
            .client
            .create_deployment(as_admin(create_request(
                WEB,
                "shop",
                pb::Deployment {
                    image: "Odoo".into(),
                    branch: "a..b".into(),
                    ..odoo("Shop")
                },
            )))
            .await;
        let status = assert_refused(refused, Code::InvalidArgument, "deployment.image", backend);
        assert!(
            status.message().contains("deployment.branch"),
            "{backend}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn types_decide_what_is_required() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        // A `none` group may omit repository and branch, not the image it runs.
        let generic = create(
            client,
            APPS,
            "api",
            pb::Deployment {
                repository: String::new(),
                branch: String::new(),
                commit_ref: String::new(),
                image: "registry.example:5000/team/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                ..odoo("API")
            },
        )
        .await;
        assert_eq!(generic.r#type(), pb::DeploymentType::None, "{backend}");
        assert!(generic.repository.is_empty());

        // In an odoo group, clearing the repository by update is refused too.
        create(client, WEB, "shop", odoo("Shop")).await;
        let cleared = client
            .update_deployment(as_admin(crate::harness::update_request(
                pb::Deployment {
                    name: "projects/acme/groups/web/deployments/shop".into(),
                    repository: String::new(),
                    scope: DEV.into(),
                    ..Default::default()
                },
                &["repository", "scope"],
            )))
            .await;
        assert_refused(
            cleared,
            Code::InvalidArgument,
            "deployment.repository",
            backend,
        );
        let unknown_scope = client
            .update_deployment(as_admin(crate::harness::update_request(
                pb::Deployment {
                    name: "projects/acme/groups/web/deployments/shop".into(),
                    scope: "projects/acme/scopes/staging".into(),
                    ..Default::default()
                },
                &["scope"],
            )))
            .await;
        assert_refused(
            unknown_scope,
            Code::InvalidArgument,
            "deployment.scope",
            backend,
        );
    }
}
