//! Deployments: create, get, list with filters and pages, field-mask updates and etags.

use eyrie_proto::v1 as pb;
use tonic::Code;

use crate::harness::{
    APPS, DEV, EU, PRODUCTION, US, WEB, as_admin, assert_refused, create, create_request,
    each_service, force_state, get, odoo, seed, update_request,
};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

#[tokio::test]
async fn a_deployment_starts_in_draft_with_its_fields() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let created = create(client, WEB, "shop", odoo("Shop")).await;
        assert_eq!(created.name, SHOP, "{backend}");
        assert_eq!(created.slug, "shop");
        assert_eq!(created.state(), pb::DeploymentState::Draft);
        assert_eq!(created.r#type(), pb::DeploymentType::Odoo);
        assert_eq!(created.namespace, "acme-shop");
        // Version 1 is numbered with the creation: the answer says it.
        assert_eq!((created.revision, created.current_version), (1, 1));
        assert_eq!(created.etag, "r1");
        assert_eq!(created.last_operation, None);
        assert_eq!(created.running_job_count, 0);
        assert_eq!(created.image, "odoo:17.0");
        assert_eq!(
            created.parameters.get("db_host").map(String::as_str),
            Some("pg.acme")
        );
        assert_eq!(created.create_time, created.update_time);
        assert_eq!(get(client, SHOP).await, created, "{backend}: read back");

        let duplicate = client
            .create_deployment(as_admin(create_request(WEB, "shop", odoo("Again"))))
            .await;
        assert_refused(duplicate, Code::AlreadyExists, "", backend);
        let orphan = client
            .create_deployment(as_admin(create_request(
                "projects/acme/groups/nope",
                "shop",
                odoo("Shop"),
            )))
            .await;
        assert_refused(orphan, Code::NotFound, "", backend);
        let missing = client
            .get_deployment(pb::GetDeploymentRequest {
                name: "projects/acme/groups/web/deployments/nope".into(),
            })
            .await;
        assert_refused(missing, Code::NotFound, "", backend);
    }
}

#[tokio::test]
async fn lists_filter_by_state_and_scope_and_hide_dropped_ones() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        for (id, scope) in [
            ("a", DEV),
            ("b", PRODUCTION),
            ("c", DEV),
            ("d", DEV),
            ("e", PRODUCTION),
        ] {
            let deployment = pb::Deployment {
                scope: scope.into(),
                ..odoo(id)
            };
            create(client, WEB, id, deployment).await;
        }
        create(client, APPS, "other", odoo("Other")).await;
        force_state(
            &running.db,
            "projects/acme/groups/web/deployments/c",
            "dropped",
        )
        .await;
        force_state(
            &running.db,
            "projects/acme/groups/web/deployments/d",
            "deploy",
        )
        .await;
        let client = &mut running.client;

        let list = |state: pb::DeploymentState, scope: &str, show_dropped: bool| {
            pb::ListDeploymentsRequest {
                parent: WEB.into(),
                page_size: 0,
                page_token: String::new(),
                state: state.into(),
                scope: scope.into(),
                show_dropped,
            }
        };
        let slugs = |response: pb::ListDeploymentsResponse| {
            response
                .deployments
                .into_iter()
                .map(|d| d.slug)
                .collect::<Vec<_>>()
        };
        let cases = [
            (
                list(pb::DeploymentState::Unspecified, "", false),
                vec!["a", "b", "d", "e"],
            ),
            (
                list(pb::DeploymentState::Unspecified, "", true),
                vec!["a", "b", "c", "d", "e"],
            ),
            (list(pb::DeploymentState::Dropped, "", false), vec!["c"]),
            (
                list(pb::DeploymentState::Draft, "", false),
                vec!["a", "b", "e"],
            ),
            (
                list(pb::DeploymentState::Unspecified, DEV, false),
                vec!["a", "d"],
            ),
            (
                list(pb::DeploymentState::Unspecified, DEV, true),
                vec!["a", "c", "d"],
            ),
            (
                list(pb::DeploymentState::Draft, PRODUCTION, false),
                vec!["b", "e"],
            ),
        ];
        for (request, expected) in cases {
            let described = format!("{backend}: {request:?}");
            let listed = client.list_deployments(request).await.unwrap().into_inner();
            assert_eq!(slugs(listed), expected, "{described}");
        }

        // Pages of two, filters kept by the token.
        let mut request = pb::ListDeploymentsRequest {
            page_size: 2,
            ..list(pb::DeploymentState::Unspecified, "", true)
        };
        let first = client
            .list_deployments(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(!first.next_page_token.is_empty());
        request.page_token = first.next_page_token.clone();
        let second = client
            .list_deployments(request.clone())
            .await
            .unwrap()
            .into_inner();
        request.page_token = second.next_page_token.clone();
        let third = client.list_deployments(request).await.unwrap().into_inner();
        assert!(third.next_page_token.is_empty(), "{backend}");
        let all: Vec<_> = [first.clone(), second, third]
            .into_iter()
            .flat_map(slugs)
            .collect();
        assert_eq!(all, ["a", "b", "c", "d", "e"], "{backend}");

        // A token is bound to its filters and parent.
        let other_filter = client
            .list_deployments(pb::ListDeploymentsRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..list(pb::DeploymentState::Draft, "", true)
            })
            .await;
        assert_refused(other_filter, Code::InvalidArgument, "page_token", backend);
        let other_parent = client
            .list_deployments(pb::ListDeploymentsRequest {
                parent: APPS.into(),
                page_size: 2,
                page_token: first.next_page_token,
                ..list(pb::DeploymentState::Unspecified, "", true)
            })
            .await;
        assert_refused(other_parent, Code::InvalidArgument, "page_token", backend);

        let foreign_scope = client
            .list_deployments(list(
                pb::DeploymentState::Unspecified,
                "projects/x/scopes/dev",
                false,
            ))
            .await;
        assert_refused(foreign_scope, Code::InvalidArgument, "scope", backend);
        let unknown_group = client
            .list_deployments(pb::ListDeploymentsRequest {
                parent: "projects/acme/groups/nope".into(),
                ..list(pb::DeploymentState::Unspecified, "", false)
            })
            .await;
        assert_refused(unknown_group, Code::NotFound, "", backend);
    }
}

#[tokio::test]
async fn updates_follow_the_mask_and_a_stale_etag_changes_nothing() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        let created = create(client, WEB, "shop", odoo("Shop")).await;

        let changed = client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    etag: created.etag.clone(),
                    image: "odoo:18.0".into(),
                    clusters: vec![US.into(), EU.into()],
                    // Outside the mask: ignored.
                    branch: "ignored".into(),
                    display_name: "Ignored".into(),
                    ..Default::default()
                },
                &["image", "clusters"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(changed.image, "odoo:18.0", "{backend}");
        assert_eq!(changed.clusters, [US, EU], "{backend}: order is kept");
        assert_eq!(changed.branch, "17.0");
        assert_eq!(changed.display_name, "Shop");
        assert_eq!(changed.revision, 2);
        assert_eq!(changed.etag, "r2");
        assert_eq!(changed.namespace, created.namespace);
        assert_eq!(changed.create_time, created.create_time);
        let micros = |t: Option<prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
        assert!(micros(changed.update_time) > micros(created.update_time));
        assert_eq!(get(client, SHOP).await, changed, "{backend}: read back");

        let stale = client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    etag: created.etag.clone(),
                    image: "odoo:19.0".into(),
                    ..Default::default()
                },
                &["image"],
            )))
            .await;
        assert_refused(stale, Code::Aborted, "", backend);
        assert_eq!(
            get(client, SHOP).await,
            changed,
            "{backend}: stale etag changed it"
        );

        // The same values again: nothing to change, no new revision.
        let same = client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    image: "odoo:18.0".into(),
                    ..Default::default()
                },
                &["image"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(same, changed, "{backend}");

        for (paths, field) in [
            (&["state"][..], "update_mask"),
            (&["parameters.x"][..], "update_mask"),
            (&[][..], "update_mask"),
        ] {
            let refused = client
                .update_deployment(as_admin(update_request(
                    pb::Deployment {
                        name: SHOP.into(),
                        ..Default::default()
                    },
                    paths,
                )))
                .await;
            assert_refused(refused, Code::InvalidArgument, field, backend);
        }
        let unknown = client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: "projects/acme/groups/web/deployments/nope".into(),
                    display_name: "X".into(),
                    ..Default::default()
                },
                &["display_name"],
            )))
            .await;
        assert_refused(unknown, Code::NotFound, "", backend);
    }
}

#[tokio::test]
async fn a_dropped_deployment_cannot_be_updated_but_can_be_read() {
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        create(&mut running.client, WEB, "shop", odoo("Shop")).await;
        force_state(&running.db, SHOP, "dropped").await;
        let client = &mut running.client;

        let dropped = get(client, SHOP).await;
        assert_eq!(dropped.state(), pb::DeploymentState::Dropped, "{backend}");
        let refused = client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    display_name: "Revived".into(),
                    ..Default::default()
                },
                &["display_name"],
            )))
            .await;
        let status = assert_refused(refused, Code::FailedPrecondition, "", backend);
        assert!(
            status.message().contains("dropped"),
            "{backend}: {}",
            status.message()
        );
        assert_eq!(get(client, SHOP).await, dropped, "{backend}");
    }
}

#[tokio::test]
async fn retried_creates_and_updates_return_the_first_result() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let request = pb::CreateDeploymentRequest {
            request_id: "create-shop".into(),
            ..create_request(WEB, "shop", odoo("Shop"))
        };
        let first = client
            .create_deployment(as_admin(request.clone()))
            .await
            .unwrap()
            .into_inner();
        let retry = client
            .create_deployment(as_admin(request))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first, retry, "{backend}");

        let update = pb::UpdateDeploymentRequest {
            request_id: "bump-image".into(),
            ..update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    etag: first.etag.clone(),
                    image: "odoo:18.0".into(),
                    ..Default::default()
                },
                &["image"],
            )
        };
        let updated = client
            .update_deployment(as_admin(update.clone()))
            .await
            .unwrap()
            .into_inner();
        // The retry carries the now stale etag: it is answered, not refused, and changes nothing.
        let retried = client
            .update_deployment(as_admin(update))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retried, updated, "{backend}");
        assert_eq!(retried.revision, 2, "{backend}");
    }
}

#[tokio::test]
async fn namespaces_never_collide() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        // `acme` + `shop` and a same-named deployment of another group want `acme-shop`.
        let first = create(client, WEB, "shop", odoo("Shop")).await;
        let second = create(client, APPS, "shop", odoo("Shop too")).await;
        assert_eq!(first.namespace, "acme-shop", "{backend}");
        assert_ne!(second.namespace, first.namespace, "{backend}");
        assert!(
            second.namespace.starts_with("acme-shop-"),
            "{backend}: {}",
            second.namespace
        );
    }
}

#[tokio::test]
async fn concurrent_retries_and_updates_settle() {
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        let request = pb::CreateDeploymentRequest {
            request_id: "create-shop".into(),
            ..create_request(WEB, "shop", odoo("Shop"))
        };
        let creates = (0..8).map(|_| {
            let mut client = running.client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.create_deployment(as_admin(request)).await })
        });
        let mut created = Vec::new();
        for task in creates.collect::<Vec<_>>() {
            created.push(task.await.unwrap().unwrap().into_inner());
        }
        assert!(
            created.windows(2).all(|w| w[0] == w[1]),
            "{backend}: {created:?}"
        );
        assert_eq!(
            crate::harness::outbox(&running.db, SHOP).await.len(),
            1,
            "{backend}"
        );

        // Updates without etag all apply, one after the other.
        let updates = (0..8).map(|i| {
            let mut client = running.client.clone();
            tokio::spawn(async move {
                client
                    .update_deployment(as_admin(update_request(
                        pb::Deployment {
                            name: SHOP.into(),
                            image: format!("odoo:18.{i}"),
                            ..Default::default()
                        },
                        &["image"],
                    )))
                    .await
            })
        });
        for task in updates.collect::<Vec<_>>() {
            task.await.unwrap().unwrap();
        }
        let last = get(&mut running.client, SHOP).await;
        let versions = crate::harness::outbox(&running.db, SHOP).await;
        assert_eq!(last.revision, 9, "{backend}: every update applied");
        assert_eq!(
            versions.len(),
            9,
            "{backend}: one version per key-field change"
        );
        assert_eq!(
            versions.last().unwrap().revision,
            last.revision,
            "{backend}"
        );
    }
}
