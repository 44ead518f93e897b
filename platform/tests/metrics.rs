//! Every endpoint serves `GET /metrics` beside gRPC: each call counted by method and status
//! code, readable by Prometheus without the internal credential, behind its own token when
//! one is set.

use std::time::Duration;

use eyrie_platform::{
    ServerSettings,
    grpc::{Endpoint, Reflection},
    internal::InternalSettings,
    metrics::scrape::ScrapeSettings,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Serves an endpoint (health and reflection only) requiring an internal credential, with
/// `metrics` settings; its address.
async fn serve(metrics: ScrapeSettings) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let settings = ServerSettings {
        metrics,
        ..ServerSettings::loopback_any_port()
    };
    let endpoint = Endpoint::new(Reflection::AllContracts)
        .require_internal_credential(&InternalSettings::with_credential("internal-secret".into()));
    tokio::spawn(async move {
        endpoint
            .serve(listener, &settings, std::future::pending())
            .await
    });
    address
}

/// `method /metrics` over HTTP/1.1, as Prometheus asks: status and body.
async fn request(
    address: std::net::SocketAddr,
    method: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let mut stream = loop {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let authorization = authorization
        .map(|value| format!("authorization: {value}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(
            format!(
                "{method} /metrics HTTP/1.1\r\nhost: localhost\r\n{authorization}connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The count of `rpc.server.duration` for `method` of the health service answered `code`.
fn health_calls(text: &str, method: &str, code: u8) -> u64 {
    text.lines()
        .filter(|line| {
            line.starts_with("rpc_server_duration_milliseconds_count{")
                && line.contains("rpc_service=\"grpc.health.v1.Health\"")
                && line.contains(&format!("rpc_method=\"{method}\""))
                && line.contains(&format!("rpc_grpc_status_code=\"{code}\""))
        })
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn calls_are_counted_by_method_and_code_and_scraped_without_the_internal_credential() {
    let address = serve(ScrapeSettings::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for _ in 0..3 {
        health.check(HealthCheckRequest::default()).await.unwrap();
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    // A method no contract names: the path a client chose must not become a label.
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let made_up = raw
        .unary::<_, tonic_health::pb::HealthCheckResponse, _>(
            tonic::Request::new(HealthCheckRequest::default()),
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/acme-secret-method"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(made_up.code(), tonic::Code::Unimplemented);

    // Prometheus presents no internal credential, and needs none.
    let (status, text) = request(address, "GET", None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(health_calls(&text, "Check", 0), 3, "{text}");
    assert_eq!(health_calls(&text, "Check", 5), 1, "{text}");
    assert!(
        text.contains("# TYPE rpc_server_duration_milliseconds histogram"),
        "{text}"
    );
    // Neither the service a client asked about nor a path it made up is a label: the made-up
    // method is counted as `_OTHER`.
    assert!(!text.contains("no.such.Service"), "{text}");
    assert!(!text.contains("acme-secret-method"), "{text}");
    assert!(
        text.lines().any(
            |line| line.starts_with("rpc_server_duration_milliseconds_count{")
                && line.contains("rpc_method=\"_OTHER\"")
                && line.contains("rpc_grpc_status_code=\"12\"")
        ),
        "{text}"
    );

    let (status, _) = request(address, "POST", None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_metrics_token_keeps_out_scrapes_without_it() {
    let address = serve(ScrapeSettings {
        token: Some(String::from("scrape-secret").into()),
        ..ScrapeSettings::default()
    })
    .await;
    assert_eq!(request(address, "GET", None).await.0, 401);
    assert_eq!(request(address, "GET", Some("Bearer wrong")).await.0, 401);
    // Not the internal credential either: the scrape has a token of its own.
    assert_eq!(
        request(address, "GET", Some("Bearer internal-secret"))
            .await
            .0,
        401
    );
    let (status, text) = request(address, "GET", Some("Bearer scrape-secret")).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let address = serve(ScrapeSettings {
        enabled: false,
        ..ScrapeSettings::default()
    })
    .await;
    // Without the scrape (nor gRPC-Web, nor pages), the port speaks HTTP/2 only: an HTTP/1.1
    // request gets no metrics.
    let mut stream = loop {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    assert!(
        !String::from_utf8_lossy(&response).contains("rpc_server_duration"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}
