//! Every service binary starts alone from a config file, reports health and serves reflection.

use eyrie_tests::{ServiceConfig, ServiceProcess, rpc};
use tonic_health::pb::health_check_response::ServingStatus;

/// Starts `binary` alone and checks what every Eyrie server must offer.
async fn check_service(binary: &str, served: &[&str]) {
    check_service_serving(binary, served, served).await;
}

/// Like [`check_service`], where health must say SERVING for `serving` only (the gateway's
/// forwarded services follow their backends, which do not run here).
async fn check_service_serving(binary: &str, served: &[&str], serving: &[&str]) {
    let data_dir = tempfile::tempdir().unwrap();
    let process = ServiceProcess::start(
        binary,
        ServiceConfig::for_service(binary, data_dir.path(), ""),
    )
    .await
    .unwrap();
    let channel = process.channel().await.unwrap();

    assert_eq!(
        rpc::health(channel.clone(), "").await.unwrap(),
        ServingStatus::Serving,
        "{binary}"
    );
    for service in serving {
        assert_eq!(
            rpc::health(channel.clone(), service).await.unwrap(),
            ServingStatus::Serving,
            "{binary}: health of {service}"
        );
    }

    let mut expected: Vec<String> = served.iter().map(|s| s.to_string()).collect();
    expected.push("grpc.health.v1.Health".to_owned());
    expected.sort();
    assert_eq!(
        rpc::list_services_v1(channel.clone()).await.unwrap(),
        expected,
        "{binary}: reflection v1"
    );
    assert_eq!(
        rpc::list_services_v1alpha(channel.clone()).await.unwrap(),
        expected,
        "{binary}: reflection v1alpha"
    );
    // Refusals carry google.rpc details; clients decoding them by reflection (grpcurl) find them.
    let files = rpc::files_containing_symbol(channel.clone(), "google.rpc.BadRequest")
        .await
        .unwrap();
    assert!(
        files[0].package() == "google.rpc"
            && files[0]
                .message_type
                .iter()
                .any(|m| m.name() == "BadRequest"),
        "{binary}: {:?}",
        files.iter().map(|f| f.name()).collect::<Vec<_>>()
    );
    for service in served {
        let doc = rpc::service_doc_comment(channel.clone(), service)
            .await
            .unwrap();
        assert!(
            doc.trim().len() > 20,
            "{binary}: {service} has no doc comment in reflection: {doc:?}"
        );
    }
}

#[tokio::test]
async fn deployment_svc_serves_health_and_reflection() {
    check_service(
        "deployment-svc",
        &[
            "eyrie.internal.v1.DeploymentCallbacks",
            "eyrie.v1.DeploymentService",
        ],
    )
    .await;
}

#[tokio::test]
async fn book_runner_svc_serves_health_and_reflection() {
    check_service(
        "book-runner-svc",
        &[
            "eyrie.internal.v1.JobRunner",
            "eyrie.v1.BookService",
            "eyrie.v1.JobService",
        ],
    )
    .await;
}

#[tokio::test]
async fn version_svc_serves_health_and_reflection() {
    check_service(
        "version-svc",
        &[
            "eyrie.internal.v1.VersionRecorder",
            "eyrie.v1.VersionService",
        ],
    )
    .await;
}

#[tokio::test]
async fn gateway_serves_the_public_services_only() {
    check_service_serving(
        "gateway",
        &[
            "eyrie.v1.AccessService",
            "eyrie.v1.BookService",
            "eyrie.v1.DeploymentService",
            "eyrie.v1.JobService",
            "eyrie.v1.VersionService",
        ],
        &["eyrie.v1.AccessService"],
    )
    .await;
}
