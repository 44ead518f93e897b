//! A deployment's id must fit what its type's books and operators derive from it: CreateDeployment
//! takes an id at its type's limit, refuses one character more or a leading digit with
//! INVALID_ARGUMENT naming `deployment_id` and the limit, and writes nothing for a refusal.

use eyrie_proto::v1 as pb;
use tonic::Code;

use crate::harness::{
    APPS, DEV, EU, PROJECT, WEB, as_admin, assert_refused, create, create_group, create_request,
    each_service, odoo, outbox, seed,
};

const DATABASES: &str = "projects/acme/groups/databases";
const MYSQL: &str = "projects/acme/groups/mysql";

/// A pgo or pxc deployment: the operator's default image, no source.
fn database() -> pb::Deployment {
    pb::Deployment {
        display_name: "Database".into(),
        scope: DEV.into(),
        clusters: vec![EU.into()],
        ..Default::default()
    }
}

fn id_of(length: usize) -> String {
    // Starts with a letter, as every type requires.
    format!("d{}", "b".repeat(length - 1))
}

#[tokio::test]
async fn ids_fit_the_limits_of_their_type_and_refusals_create_nothing() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        for (id, deployment_type) in [
            ("databases", pb::DeploymentType::Pgo),
            ("mysql", pb::DeploymentType::Pxc),
        ] {
            create_group(client, PROJECT, id, deployment_type).await;
        }
        let none = pb::Deployment {
            image: "nginx:1.27".into(),
            ..database()
        };
        let cases = [
            (MYSQL, 22, database()),
            (DATABASES, 37, database()),
            (WEB, 53, odoo("Shop")),
        ];
        for (group, limit, deployment) in &cases {
            let context = format!("{backend}: {group}");
            let longest = id_of(*limit);
            let created = create(client, group, &longest, deployment.clone()).await;
            assert_eq!(created.slug, longest, "{context}");

            let too_long = id_of(limit + 1);
            let refused = client
                .create_deployment(as_admin(create_request(
                    group,
                    &too_long,
                    deployment.clone(),
                )))
                .await;
            let status = assert_refused(refused, Code::InvalidArgument, "deployment_id", &context);
            assert!(
                status
                    .message()
                    .contains(&format!("id may have at most {limit} characters")),
                "{context}: {}",
                status.message()
            );
            assert!(
                outbox(&running.db, &format!("{group}/deployments/{too_long}"))
                    .await
                    .is_empty(),
                "{context}: a version was queued for a refused deployment"
            );
        }
        let pxc = client
            .create_deployment(as_admin(create_request(MYSQL, &id_of(23), database())))
            .await
            .unwrap_err();
        assert!(
            pxc.message().contains(
                "deployment_id: a pxc deployment's id may have at most 22 characters \
                 (the Percona XtraDB Cluster operator's limit on cluster names)"
            ),
            "{backend}: {}",
            pxc.message()
        );

        // A leading digit passes as a DNS-1123 label but not as the Service every type makes.
        for (group, deployment) in [
            (MYSQL, database()),
            (DATABASES, database()),
            (WEB, odoo("Shop")),
            (APPS, none.clone()),
        ] {
            let refused = client
                .create_deployment(as_admin(create_request(group, "1shop", deployment)))
                .await;
            let status = assert_refused(refused, Code::InvalidArgument, "deployment_id", backend);
            assert!(
                status.message().contains("must start with a letter"),
                "{backend}: {}",
                status.message()
            );
        }
        // A generic app takes any DNS label that starts with a letter.
        create(client, APPS, &id_of(63), none).await;

        for (group, expected) in [(MYSQL, 22), (DATABASES, 37), (WEB, 53), (APPS, 63)] {
            let listed = client
                .list_deployments(pb::ListDeploymentsRequest {
                    parent: group.into(),
                    show_dropped: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let slugs: Vec<_> = listed.deployments.iter().map(|d| d.slug.len()).collect();
            assert_eq!(slugs, [expected], "{backend}: {group}");
        }
    }
}
