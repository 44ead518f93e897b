//! The console on the gateway's one port (#18): pages over HTTP/2 beside gRPC, over HTTP/1.1
//! through TLS with a `Secure` cookie, and nothing under `/_eyrie/` when it is turned off.
//! The gateway runs in process; signing in needs no backend (AccessService is its own).

use std::sync::Arc;

use bytes::Bytes;
use eyrie_gateway::{Gateway, Settings};
use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::v1::{self as pb, access_service_client::AccessServiceClient};
use eyrie_tests::{auth::with_token, tls::TestPki};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};

/// The gateway with `configure`d settings and its admin token.
struct Started {
    gateway: TestServer,
    token: String,
    _dir: tempfile::TempDir,
}

async fn start(
    configure: impl FnOnce(&mut Settings),
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: DatabaseSettings::with_url(format!(
            "sqlite://{}/gateway.sqlite?mode=rwc",
            dir.path().display()
        )),
        ..Settings::default()
    };
    settings.auth.bootstrap_token_file = Some(dir.path().join("admin-token"));
    configure(&mut settings);
    let gateway = match tls {
        Some(client) => TestServer::start_tls::<Gateway>(settings, client).await,
        None => TestServer::start::<Gateway>(settings).await,
    }
    .unwrap();
    let token = std::fs::read_to_string(dir.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    Started {
        gateway,
        token,
        _dir: dir,
    }
}

/// Sends `request` on an HTTP/2 connection (prior knowledge, no TLS) to `address`.
async fn over_http2(
    address: std::net::SocketAddr,
    request: http::Request<Full<Bytes>>,
) -> http::Response<Bytes> {
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn pages_are_served_over_http2_on_the_grpc_port() {
    let started = start(|_| {}, None).await;
    let request = http::Request::get(format!("{}/_eyrie/sign-in", started.gateway.url()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = over_http2(started.gateway.address, request).await;
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert!(response.headers().contains_key("content-security-policy"));
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.contains(r#"action="/_eyrie/sign-in""#), "{body}");

    // gRPC on the same port, unchanged.
    let who = AccessServiceClient::new(started.gateway.channel().await.unwrap())
        .who_am_i(with_token(&started.token, pb::WhoAmIRequest {}))
        .await
        .unwrap();
    assert!(who.into_inner().token.unwrap().global_admin);
}

#[tokio::test]
async fn a_gateway_without_the_console_serves_no_page() {
    let started = start(|settings| settings.console.enabled = false, None).await;
    let request = http::Request::get(format!("{}/_eyrie/sign-in", started.gateway.url()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = over_http2(started.gateway.address, request).await;
    // Only gRPC is there: an unknown path is an unimplemented RPC, not a page.
    assert_eq!(response.headers()["grpc-status"], "12");
    assert!(!response.headers().contains_key("content-security-policy"));
}

#[tokio::test]
async fn over_tls_pages_answer_http1_and_the_session_cookie_is_secure() {
    let pki = TestPki::generate("gateway").unwrap();
    let tls = pki.server_settings(false);
    let started = start(
        |settings| settings.server.tls = tls,
        Some(pki.trusting_client()),
    )
    .await;

    // A browser-like client: HTTP/1.1 only, said during the handshake (ALPN).
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(&pki.ca_file).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(started.gateway.address)
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);

    let form = sender
        .send_request(
            http::Request::get("/_eyrie/sign-in")
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(form.status(), http::StatusCode::OK);
    let cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let body = form.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).unwrap() + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap()];

    let fields = serde_urlencoded::to_string([("csrf", csrf), ("token", &started.token)]).unwrap();
    let signed_in = sender
        .send_request(
            http::Request::post("/_eyrie/sign-in")
                .header("host", "localhost")
                .header("origin", "https://localhost")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &session)
                .body(Full::new(Bytes::from(fields)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(signed_in.status(), http::StatusCode::SEE_OTHER);
    assert_eq!(signed_in.version(), http::Version::HTTP_11);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/_eyrie", "Secure"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
}
