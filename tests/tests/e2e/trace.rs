//! A trace id sent by a client arrives in the server's span, also across the gateway hop.

use std::time::Duration;

use eyrie_proto::v1::{ListVersionsRequest, version_service_client::VersionServiceClient};
use eyrie_tests::{
    ServiceConfig, ServiceProcess,
    auth::{admin_token, with_token},
    gateway_in_front_of_version,
};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const LOG_WAIT: Duration = Duration::from_secs(10);

fn list_shop() -> ListVersionsRequest {
    ListVersionsRequest {
        parent: "projects/acme/groups/web/deployments/shop".to_owned(),
        ..Default::default()
    }
}

/// `request` sent as part of the trace [`TRACEPARENT`].
fn traced(mut request: tonic::Request<ListVersionsRequest>) -> tonic::Request<ListVersionsRequest> {
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    request
}

#[tokio::test]
async fn client_trace_id_reaches_the_server_span_directly_and_through_the_gateway() {
    let data_dir = tempfile::tempdir().unwrap();
    let version = ServiceProcess::start(
        "version-svc",
        ServiceConfig::for_service("version-svc", data_dir.path(), ""),
    )
    .await
    .unwrap();

    // Straight to the service: its span for the call carries the client's trace id.
    let mut client = VersionServiceClient::new(version.channel().await.unwrap());
    let _ = client
        .list_versions(traced(tonic::Request::new(list_shop())))
        .await;
    version
        .wait_for_log(&["ListVersions", &format!("trace_id={TRACE_ID}")], LOG_WAIT)
        .await
        .unwrap();

    // Through the gateway: both hops' spans carry the same trace id, so the gateway passed it on.
    let gateway = gateway_in_front_of_version(data_dir.path(), &version, &[])
        .await
        .unwrap();
    let request_id = "trace-test-through-gateway";
    let token = admin_token(data_dir.path());
    let mut request = traced(with_token(&token, list_shop()));
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    let mut client = VersionServiceClient::new(gateway.channel().await.unwrap());
    // The admin's call passes the gateway to version-svc, which holds no version of it.
    let listed = client.list_versions(request).await.unwrap().into_inner();
    assert!(listed.versions.is_empty(), "{listed:?}");

    gateway
        .wait_for_log(
            &["ListVersions", &format!("trace_id={TRACE_ID}"), request_id],
            LOG_WAIT,
        )
        .await
        .unwrap();
    version
        .wait_for_log(
            &["ListVersions", &format!("trace_id={TRACE_ID}"), request_id],
            LOG_WAIT,
        )
        .await
        .unwrap();
}
