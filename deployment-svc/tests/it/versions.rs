//! docs/architecture.md, "Version outbox": a create and every key-field update queue exactly one
//! record in the outbox, in the same transaction; other changes queue none.

use eyrie_proto::v1::{self as pb, VersionReason};
use tonic::Code;

use crate::harness::{
    ACTOR, EU, US, WEB, as_admin, assert_refused, create, each_service, odoo, outbox, seed,
    update_request,
};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

#[tokio::test]
async fn creates_and_key_field_updates_queue_one_version_each() {
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        let created = create(&mut running.client, WEB, "shop", odoo("Shop")).await;

        let records = outbox(&running.db, SHOP).await;
        assert_eq!(records.len(), 1, "{backend}");
        let first = &records[0];
        // Numbered in the change's transaction: the answer already says it.
        assert_eq!((created.current_version, first.number), (1, 1), "{backend}");
        assert_eq!(first.deployment, SHOP);
        assert_eq!(first.revision, 1);
        assert_eq!(first.reason(), VersionReason::Create);
        assert_eq!(first.actor, ACTOR);
        assert_eq!(first.rollback_to_version, 0);
        let fields = first.key_fields.clone().unwrap();
        assert_eq!(fields.image, "odoo:17.0");
        assert_eq!(fields.repository, created.repository);
        assert_eq!(fields.clusters, [EU]);
        assert_eq!(fields.parameters, created.parameters);
        assert_eq!(
            first.time.unwrap().seconds,
            created.create_time.unwrap().seconds,
            "{backend}: the change's time"
        );

        // A display name is not a key field: a new revision, no version.
        let renamed = running
            .client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    display_name: "Shop (EU)".into(),
                    ..Default::default()
                },
                &["display_name"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(renamed.revision, 2, "{backend}");
        assert_eq!(renamed.current_version, 1, "{backend}: no new version");
        assert_eq!(outbox(&running.db, SHOP).await.len(), 1, "{backend}");

        // A key-field change: revision 3, and exactly one more record carrying it.
        let moved = running
            .client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    etag: renamed.etag.clone(),
                    image: "odoo:18.0".into(),
                    clusters: vec![EU.into(), US.into()],
                    parameters: [("db_host".to_owned(), "pg2.acme".to_owned())].into(),
                    ..Default::default()
                },
                &["image", "clusters", "parameters"],
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(moved.revision, 3, "{backend}");
        assert_eq!(
            moved.current_version, 2,
            "{backend}: the answer carries version 2"
        );
        let records = outbox(&running.db, SHOP).await;
        assert_eq!(records.len(), 2, "{backend}");
        let second = &records[1];
        assert_eq!(second.number, 2, "{backend}");
        assert_eq!(
            (second.revision, second.reason()),
            (3, VersionReason::Update)
        );
        let fields = second.key_fields.clone().unwrap();
        assert_eq!(fields.image, "odoo:18.0");
        assert_eq!(fields.clusters, [EU, US]);
        assert_eq!(
            fields.parameters.get("db_host").map(String::as_str),
            Some("pg2.acme")
        );
        assert_eq!(fields.branch, "17.0", "{backend}: unmasked fields are kept");

        // Refused updates queue nothing.
        let stale = running
            .client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    etag: renamed.etag,
                    image: "odoo:19.0".into(),
                    ..Default::default()
                },
                &["image"],
            )))
            .await;
        assert_refused(stale, Code::Aborted, "", backend);
        let invalid = running
            .client
            .update_deployment(as_admin(update_request(
                pb::Deployment {
                    name: SHOP.into(),
                    image: "Odoo".into(),
                    ..Default::default()
                },
                &["image"],
            )))
            .await;
        assert_refused(invalid, Code::InvalidArgument, "deployment.image", backend);
        assert_eq!(outbox(&running.db, SHOP).await.len(), 2, "{backend}");
    }
}

#[tokio::test]
async fn retries_queue_nothing_more_and_callers_without_identity_are_anonymous() {
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        let request = pb::CreateDeploymentRequest {
            request_id: "once".into(),
            ..crate::harness::create_request(WEB, "shop", odoo("Shop"))
        };
        // No `x-eyrie-actor`: the gateway is not in front of this test.
        running
            .client
            .create_deployment(request.clone())
            .await
            .unwrap();
        running.client.create_deployment(request).await.unwrap();
        let records = outbox(&running.db, SHOP).await;
        assert_eq!(records.len(), 1, "{backend}");
        assert_eq!(records[0].actor, "anonymous", "{backend}");
    }
}

/// After an upgrade, a record queued before deployment-svc numbered versions may still wait: its
/// number is not known yet, so the versions after it are left for version-svc to number too,
/// rather than guessed.
#[tokio::test]
async fn while_an_unnumbered_record_waits_new_versions_are_left_for_version_svc_to_number() {
    use sea_orm::ConnectionTrait as _;
    for mut running in each_service().await {
        let backend = running.backend;
        seed(&mut running.client).await;
        create(&mut running.client, WEB, "shop", odoo("Shop")).await;
        // As the upgrade leaves a record queued by the previous release.
        running
            .db
            .execute_unprepared("UPDATE version_outbox SET number = 0")
            .await
            .unwrap();

        let updated = running
            .client
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

        assert_eq!(updated.current_version, 1, "{backend}: not guessed");
        let records = outbox(&running.db, SHOP).await;
        assert_eq!(
            records.iter().map(|r| r.number).collect::<Vec<_>>(),
            [1, 0],
            "{backend}: the payload of the first keeps its number; the second has none"
        );
    }
}
