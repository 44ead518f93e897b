//! The gateway routes the public API, and only the public API.

use eyrie_proto::v1::{ListVersionsRequest, version_service_client::VersionServiceClient};
use eyrie_tests::{ServiceConfig, ServiceProcess};
use tonic::Code;

#[tokio::test]
async fn a_backend_that_is_down_gives_unavailable() {
    let data_dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service(
            "gateway",
            data_dir.path(),
            "[backends]\nversion = \"http://127.0.0.1:1\"",
        ),
    )
    .await
    .unwrap();
    let mut client = VersionServiceClient::new(gateway.channel().await.unwrap());
    let status = client
        .list_versions(ListVersionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn internal_services_are_not_reachable_through_the_gateway() {
    use eyrie_proto::internal::v1::{
        RecordVersionRequest, version_recorder_client::VersionRecorderClient,
    };

    let data_dir = tempfile::tempdir().unwrap();
    let version = ServiceProcess::start(
        "version-svc",
        ServiceConfig::for_service("version-svc", data_dir.path(), ""),
    )
    .await
    .unwrap();
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service(
            "gateway",
            data_dir.path(),
            &format!("[backends]\nversion = \"{}\"", version.url()),
        ),
    )
    .await
    .unwrap();

    let mut client = VersionRecorderClient::new(gateway.channel().await.unwrap());
    let status = client
        .record_version(RecordVersionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(
        !version.logs().contains("RecordVersion"),
        "the internal call reached version-svc:\n{}",
        version.logs()
    );
}
