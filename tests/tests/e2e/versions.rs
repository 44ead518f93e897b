//! Versions recorded on version-svc's internal port are read through the gateway.

use eyrie_proto::{
    internal::v1::{RecordVersionRequest, version_recorder_client::VersionRecorderClient},
    v1::{
        DiffVersionsRequest, KeyFields, ListVersionsRequest, VersionReason,
        version_service_client::VersionServiceClient,
    },
};
use eyrie_tests::version_behind_gateway;

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

fn revision(revision: i64, image: &str) -> RecordVersionRequest {
    RecordVersionRequest {
        deployment: SHOP.into(),
        revision,
        key_fields: Some(KeyFields {
            image: image.into(),
            scope: "projects/acme/scopes/dev".into(),
            ..Default::default()
        }),
        actor: "tokens/admin".into(),
        reason: VersionReason::Update.into(),
        rollback_to_version: 0,
        time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        // Numbered by version-svc, as records queued before deployment-svc numbered them.
        number: 0,
    }
}

#[tokio::test]
async fn versions_recorded_internally_are_listed_and_diffed_through_the_gateway() {
    let data_dir = tempfile::tempdir().unwrap();
    let (version, gateway) = version_behind_gateway(data_dir.path(), &[]).await.unwrap();

    let mut recorder = VersionRecorderClient::new(version.channel().await.unwrap());
    recorder
        .record_version(revision(1, "odoo:17.0"))
        .await
        .unwrap();
    recorder
        .record_version(revision(2, "odoo:18.0"))
        .await
        .unwrap();

    let mut public = VersionServiceClient::new(gateway.channel().await.unwrap());
    let token = eyrie_tests::auth::admin_token(data_dir.path());
    let listed = public
        .list_versions(eyrie_tests::auth::with_token(
            &token,
            ListVersionsRequest {
                parent: SHOP.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let numbers: Vec<_> = listed.versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [2, 1]);

    let diff = public
        .diff_versions(eyrie_tests::auth::with_token(
            &token,
            DiffVersionsRequest {
                from: format!("{SHOP}/versions/1"),
                to: format!("{SHOP}/versions/2"),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(diff.changes.len(), 1);
    assert_eq!(diff.changes[0].field, "image");
    assert_eq!(
        (
            diff.changes[0].old_value.as_str(),
            diff.changes[0].new_value.as_str()
        ),
        ("odoo:17.0", "odoo:18.0")
    );

    // Errors keep their code and message across the gateway.
    let missing = public
        .diff_versions(eyrie_tests::auth::with_token(
            &token,
            DiffVersionsRequest {
                from: format!("{SHOP}/versions/1"),
                to: format!("{SHOP}/versions/7"),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(missing.message().contains("versions/7"), "{missing:?}");
}
