//! Deployment groups: default books, field-mask updates and etags.

use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use tonic::{Code, transport::Channel};

use crate::harness::{APPS, PROJECT, WEB, as_admin, assert_refused, each_service, seed};

fn group_request(id: &str, group: pb::DeploymentGroup) -> pb::CreateDeploymentGroupRequest {
    pb::CreateDeploymentGroupRequest {
        parent: PROJECT.into(),
        deployment_group_id: id.into(),
        deployment_group: Some(group),
        request_id: String::new(),
    }
}

fn update(group: pb::DeploymentGroup, paths: &[&str]) -> pb::UpdateDeploymentGroupRequest {
    pb::UpdateDeploymentGroupRequest {
        deployment_group: Some(group),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
        request_id: String::new(),
    }
}

async fn read_web(client: &mut DeploymentServiceClient<Channel>) -> pb::DeploymentGroup {
    client
        .get_deployment_group(pb::GetDeploymentGroupRequest { name: WEB.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn groups_default_to_the_builtin_books_of_their_type() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let web = client
            .get_deployment_group(pb::GetDeploymentGroupRequest { name: WEB.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(web.r#type(), pb::DeploymentType::Odoo, "{backend}");
        assert_eq!(
            [
                web.initialize_book.as_str(),
                web.deploy_book.as_str(),
                web.pause_book.as_str(),
                web.drop_book.as_str()
            ],
            [
                "books/odoo-initialize",
                "books/odoo-deploy",
                "books/odoo-pause",
                "books/odoo-drop"
            ],
            "{backend}"
        );
        assert_eq!(web.etag, "r1");

        let custom = client
            .create_deployment_group(as_admin(group_request(
                "db",
                pb::DeploymentGroup {
                    display_name: "Databases".into(),
                    r#type: pb::DeploymentType::Pgo.into(),
                    deploy_book: "projects/acme/books/pgo-tuned".into(),
                    ..Default::default()
                },
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            custom.deploy_book, "projects/acme/books/pgo-tuned",
            "{backend}"
        );
        assert_eq!(custom.pause_book, "books/pgo-pause");

        let listed = client
            .list_deployment_groups(pb::ListDeploymentGroupsRequest {
                parent: PROJECT.into(),
                page_size: 2,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<_> = listed
            .deployment_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, [APPS, "projects/acme/groups/db"], "{backend}");
        let rest = client
            .list_deployment_groups(pb::ListDeploymentGroupsRequest {
                parent: PROJECT.into(),
                page_size: 2,
                page_token: listed.next_page_token,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rest.deployment_groups.len(), 1);
        assert_eq!(rest.deployment_groups[0].name, WEB);
        assert!(rest.next_page_token.is_empty());
    }
}

#[tokio::test]
async fn bad_groups_are_refused_naming_the_field() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let untyped = client
            .create_deployment_group(as_admin(group_request(
                "x",
                pb::DeploymentGroup {
                    display_name: "X".into(),
                    ..Default::default()
                },
            )))
            .await;
        assert_refused(
            untyped,
            Code::InvalidArgument,
            "deployment_group.type",
            backend,
        );
        let foreign_book = client
            .create_deployment_group(as_admin(group_request(
                "x",
                pb::DeploymentGroup {
                    display_name: "X".into(),
                    r#type: pb::DeploymentType::None.into(),
                    drop_book: "projects/other/books/drop".into(),
                    ..Default::default()
                },
            )))
            .await;
        assert_refused(
            foreign_book,
            Code::InvalidArgument,
            "deployment_group.drop_book",
            backend,
        );
        let bad_id = client
            .create_deployment_group(as_admin(group_request(
                "X_1",
                pb::DeploymentGroup {
                    display_name: "X".into(),
                    r#type: pb::DeploymentType::None.into(),
                    ..Default::default()
                },
            )))
            .await;
        assert_refused(
            bad_id,
            Code::InvalidArgument,
            "deployment_group_id",
            backend,
        );
    }
}

#[tokio::test]
async fn group_updates_follow_the_mask_and_the_etag() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        let before = read_web(client).await;

        let changed = client
            .update_deployment_group(as_admin(update(
                pb::DeploymentGroup {
                    name: WEB.into(),
                    display_name: "Web shop".into(),
                    deploy_book: "projects/acme/books/odoo-custom".into(),
                    // Outside the mask: ignored.
                    pause_book: "books/ignored".into(),
                    etag: before.etag.clone(),
                    ..Default::default()
                },
                &["display_name", "deploy_book"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(changed.display_name, "Web shop", "{backend}");
        assert_eq!(changed.deploy_book, "projects/acme/books/odoo-custom");
        assert_eq!(changed.pause_book, "books/odoo-pause");
        assert_ne!(changed.etag, before.etag);
        assert_eq!(read_web(client).await, changed, "{backend}: read back");

        // The first etag is stale now: refused, and nothing changes.
        let stale = client
            .update_deployment_group(as_admin(update(
                pb::DeploymentGroup {
                    name: WEB.into(),
                    display_name: "Stale".into(),
                    etag: before.etag.clone(),
                    ..Default::default()
                },
                &["display_name"],
            )))
            .await;
        assert_refused(stale, Code::Aborted, "", backend);
        assert_eq!(
            read_web(client).await,
            changed,
            "{backend}: stale etag changed the group"
        );

        // An empty book resets it to the built-in one; no etag means last writer wins.
        let reset = client
            .update_deployment_group(as_admin(update(
                pb::DeploymentGroup {
                    name: WEB.into(),
                    ..Default::default()
                },
                &["deploy_book"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reset.deploy_book, "books/odoo-deploy", "{backend}");

        for (paths, why) in [
            (&["type"][..], "fixed at creation"),
            (&["etag"][..], "output only"),
            (&["colour"][..], "unknown field"),
            (&[][..], "is required"),
        ] {
            let refused = client
                .update_deployment_group(as_admin(update(
                    pb::DeploymentGroup {
                        name: WEB.into(),
                        r#type: pb::DeploymentType::Pgo.into(),
                        ..Default::default()
                    },
                    paths,
                )))
                .await;
            let status = assert_refused(refused, Code::InvalidArgument, "update_mask", backend);
            assert!(
                status.message().contains(why),
                "{backend}: {}",
                status.message()
            );
        }
        assert_eq!(read_web(client).await.r#type(), pb::DeploymentType::Odoo);

        let unknown = client
            .update_deployment_group(as_admin(update(
                pb::DeploymentGroup {
                    name: "projects/acme/groups/nope".into(),
                    display_name: "X".into(),
                    ..Default::default()
                },
                &["display_name"],
            )))
            .await;
        assert_refused(unknown, Code::NotFound, "", backend);
    }
}
