//! RecordVersion: numbering, idempotency, ordering and validation, on every database.

use eyrie_platform::testing::{describe, postgres_test_database, test_databases};
use eyrie_proto::v1::{GetVersionRequest, ListVersionsRequest, VersionReason};
use futures::future::join_all;
use tonic::Code;

use crate::harness::{SHOP, record, record_request, start, violated_fields};

#[tokio::test]
async fn the_first_version_lists_every_set_field() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        let response = record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        assert!(response.created, "{backend}");
        let version = response.version.unwrap();
        assert_eq!(version.name, format!("{SHOP}/versions/1"), "{backend}");
        assert_eq!(version.number, 1);
        assert_eq!(version.revision, 1);
        assert_eq!(version.reason(), VersionReason::Create);
        assert_eq!(version.actor, "tokens/admin");
        assert_eq!(
            version.create_time.unwrap().seconds,
            1_800_000_001,
            "the change time, not the record time"
        );
        assert_eq!(
            version.changed_fields,
            [
                "repository",
                "branch",
                "image",
                "clusters",
                "scope",
                "parameters.db_host"
            ],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn unchanged_key_fields_create_nothing_and_retries_return_the_same_version() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        let unchanged = record(&mut running.recorder, SHOP, 2, "odoo:17.0").await;
        assert!(
            !unchanged.created,
            "{backend}: equal key fields made a version"
        );
        assert_eq!(unchanged.version.unwrap().number, 1, "{backend}");

        let second = record(&mut running.recorder, SHOP, 3, "odoo:17.1").await;
        assert!(second.created, "{backend}");
        let second = second.version.unwrap();
        assert_eq!((second.number, second.revision), (2, 3), "{backend}");
        assert_eq!(second.changed_fields, ["image"], "{backend}");

        // The relay retries a delivery whose answer it lost: same version, nothing new.
        let retry = record(&mut running.recorder, SHOP, 3, "odoo:17.1").await;
        assert!(!retry.created, "{backend}");
        assert_eq!(retry.version.unwrap(), second, "{backend}");
        // Even a retry of the first revision, after later ones, finds version 1.
        let old_retry = record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        assert_eq!(old_retry.version.unwrap().number, 1, "{backend}");

        let listed = running
            .versions
            .list_versions(ListVersionsRequest {
                parent: SHOP.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.versions.len(), 2, "{backend}");
    }
}

#[tokio::test]
async fn an_older_revision_delivered_late_never_overtakes_the_newer_one() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        let newer = record(&mut running.recorder, SHOP, 3, "odoo:17.2").await;
        assert!(newer.created, "{backend}");

        let late = record(&mut running.recorder, SHOP, 2, "odoo:17.1").await;
        assert!(!late.created, "{backend}: a late revision made a version");
        let latest = late.version.unwrap();
        assert_eq!(
            (latest.number, latest.revision),
            (2, 3),
            "{backend}: the newer version stands"
        );
        assert_eq!(latest.key_fields.unwrap().image, "odoo:17.2", "{backend}");

        let not_there = running
            .versions
            .get_version(GetVersionRequest {
                name: format!("{SHOP}/versions/3"),
            })
            .await
            .unwrap_err();
        assert_eq!(not_there.code(), Code::NotFound, "{backend}");
    }
}

/// Sends revisions 1..=50 of one deployment at once, split between `replicas` servers sharing
/// one database, and checks the numbering that results.
async fn concurrent_revisions(database: eyrie_platform::DatabaseSettings, replicas: usize) {
    let backend = describe(&database);
    let mut servers = Vec::new();
    for _ in 0..replicas {
        servers.push(start(database.clone()).await);
    }
    let calls = (1..=50).map(|revision| {
        let mut client = servers[revision as usize % replicas].recorder.clone();
        async move {
            client
                .record_version(record_request(
                    SHOP,
                    revision,
                    &format!("odoo:17.{revision}"),
                ))
                .await
                .map(|r| r.into_inner())
        }
    });
    let responses = join_all(calls).await;
    let created = responses
        .iter()
        .filter(|r| r.as_ref().unwrap().created)
        .count();

    let mut listing = servers[0].versions.clone();
    let versions = listing
        .list_versions(ListVersionsRequest {
            parent: SHOP.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    let numbers: Vec<i64> = versions.iter().rev().map(|v| v.number).collect();
    let expected: Vec<i64> = (1..=versions.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "{backend}: numbers must be 1..N, no gap, no duplicate"
    );
    assert_eq!(
        created,
        versions.len(),
        "{backend}: each created answer is one stored version"
    );
    let revisions: Vec<i64> = versions.iter().rev().map(|v| v.revision).collect();
    assert!(
        revisions.windows(2).all(|pair| pair[0] < pair[1]),
        "{backend}: versions out of revision order: {revisions:?}"
    );
    assert_eq!(
        revisions.last(),
        Some(&50),
        "{backend}: the newest revision must be the latest version"
    );
}

#[tokio::test]
async fn fifty_concurrent_records_on_one_replica_number_densely() {
    for database in test_databases() {
        concurrent_revisions(database, 1).await;
    }
}

#[tokio::test]
async fn fifty_concurrent_records_across_three_replicas_on_postgres_number_densely() {
    // SQLite has one writer per file, so replicas only make sense on PostgreSQL.
    let Some(database) = postgres_test_database() else {
        eprintln!("EYRIE_TEST_DATABASE_URL is not set: the PostgreSQL replica test is skipped");
        return;
    };
    concurrent_revisions(database, 3).await;
}

#[tokio::test]
async fn malformed_records_are_refused_naming_every_field_and_change_nothing() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        let mut request =
            record_request("projects/acme/groups/web/deployment/shop", 0, "odoo:17.0");
        request.key_fields = None;
        request.reason = VersionReason::Unspecified.into();
        request.time = None;
        let status = running.recorder.record_version(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend}");
        assert_eq!(
            violated_fields(&status),
            ["deployment", "revision", "reason", "key_fields", "time"],
            "{backend}: {status:?}"
        );

        let mut rollback = record_request(SHOP, 2, "odoo:17.0");
        rollback.reason = VersionReason::Rollback.into();
        let status = running.recorder.record_version(rollback).await.unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["rollback_to_version"],
            "{backend}"
        );

        let listed = running
            .versions
            .list_versions(ListVersionsRequest {
                parent: SHOP.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            listed.versions.is_empty(),
            "{backend}: a refused record stored something"
        );
    }
}

#[tokio::test]
async fn a_rollback_records_the_version_it_restored() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        record(&mut running.recorder, SHOP, 2, "odoo:17.1").await;

        let mut rollback = record_request(SHOP, 3, "odoo:17.0");
        rollback.reason = VersionReason::Rollback.into();
        rollback.rollback_to_version = 1;
        let version = running
            .recorder
            .record_version(rollback)
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap();
        assert_eq!(version.number, 3, "{backend}");
        assert_eq!(version.reason(), VersionReason::Rollback, "{backend}");
        assert_eq!(version.rollback_to_version, 1, "{backend}");
        assert_eq!(version.changed_fields, ["image"], "{backend}");
    }
}

#[tokio::test]
async fn a_version_numbered_by_deployment_svc_keeps_its_number_and_a_retry_returns_it() {
    use eyrie_proto::internal::v1::RecordVersionRequest;
    let numbered = |revision, image, number| RecordVersionRequest {
        number,
        ..record_request(SHOP, revision, image)
    };
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        let first = running
            .recorder
            .record_version(numbered(1, "odoo:17.0", 1))
            .await
            .unwrap()
            .into_inner();
        assert!(first.created, "{backend}");
        let second = running
            .recorder
            .record_version(numbered(4, "odoo:17.1", 2))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (second.created, second.version.as_ref().unwrap().number),
            (true, 2),
            "{backend}"
        );
        // The relay sent it again (its acknowledgement was lost): the same version comes back.
        let again = running
            .recorder
            .record_version(numbered(4, "odoo:17.1", 2))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.version, second.version, "{backend}");
        assert!(!again.created, "{backend}");

        let negative = running
            .recorder
            .record_version(numbered(5, "odoo:17.2", -1))
            .await
            .unwrap_err();
        assert_eq!(negative.code(), Code::InvalidArgument, "{backend}");
        assert_eq!(violated_fields(&negative), ["number"], "{backend}");
    }
}
