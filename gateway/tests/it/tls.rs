//! The gateway over TLS (issue #15, part 7), with certificates made for each test: clients that
//! trust its CA are answered, plaintext clients and clients trusting another CA are not,
//! browsers' gRPC-Web still works over HTTP/1.1, and with a client CA configured only clients
//! holding a certificate of that CA get in.

use std::{error::Error as _, sync::Arc};

use bytes::{Buf as _, BufMut as _, BytesMut};
use eyrie_proto::v1::{self as pb, access_service_client::AccessServiceClient};
use eyrie_tests::{auth::with_token, tls::TestPki};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tonic::{
    Status,
    transport::{Channel, ClientTlsConfig, Endpoint},
};

use crate::fixture::Fixture;

/// The gateway serving `pki`'s server certificate (asking clients for theirs with `mutual`);
/// the fixture's own channels connect with `client`.
async fn tls_gateway(pki: &TestPki, mutual: bool, client: ClientTlsConfig) -> Fixture {
    let tls = pki.server_settings(mutual);
    Fixture::start_tls(|settings| settings.server.tls = tls, client).await
}

async fn who_am_i(channel: Channel, token: &str) -> Result<pb::WhoAmIResponse, Status> {
    AccessServiceClient::new(channel)
        .who_am_i(with_token(token, pb::WhoAmIRequest {}))
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts the call failed in the transport: the server never answered it.
fn assert_unanswered(status: &Status) {
    let transport = status
        .source()
        .is_some_and(|source| source.is::<tonic::transport::Error>());
    assert!(transport, "{status:?}");
}

/// An error with its sources, since transport errors hide the cause below.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_tls_gateway_answers_clients_trusting_its_ca_and_no_plaintext_client() {
    let pki = TestPki::generate("gateway").unwrap();
    let fixture = tls_gateway(&pki, false, pki.trusting_client()).await;
    assert!(fixture.gateway.url().starts_with("https://"));

    let who = who_am_i(fixture.channel().await, &fixture.token)
        .await
        .unwrap();
    assert!(who.token.unwrap().global_admin);

    // The same port in plaintext: no TLS handshake, so no call goes through.
    let plaintext = Endpoint::from_shared(format!("http://{}", fixture.gateway.address))
        .unwrap()
        .connect_lazy();
    let refused = who_am_i(plaintext, &fixture.token).await.unwrap_err();
    assert_unanswered(&refused);
}

#[tokio::test]
async fn a_client_trusting_another_ca_cannot_connect() {
    let pki = TestPki::generate("gateway").unwrap();
    let stranger = TestPki::generate("stranger").unwrap();
    let fixture = tls_gateway(&pki, false, pki.trusting_client()).await;

    let error = Endpoint::from_shared(fixture.gateway.url())
        .unwrap()
        .tls_config(stranger.trusting_client())
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    let error = chain(&error);
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn with_a_client_ca_only_clients_holding_a_certificate_get_in() {
    let pki = TestPki::generate("gateway").unwrap();
    let fixture = tls_gateway(&pki, true, pki.client_with_certificate()).await;

    let who = who_am_i(fixture.channel().await, &fixture.token)
        .await
        .unwrap();
    assert!(who.token.unwrap().global_admin);

    let without_certificate = Endpoint::from_shared(fixture.gateway.url())
        .unwrap()
        .tls_config(pki.trusting_client())
        .unwrap()
        .connect_lazy();
    let refused = who_am_i(without_certificate, &fixture.token)
        .await
        .unwrap_err();
    // (The client sees the server's `CertificateRequired` alert, or the connection closed.)
    assert_unanswered(&refused);
}

#[tokio::test]
async fn browsers_call_grpc_web_over_http1_through_tls() {
    let pki = TestPki::generate("gateway").unwrap();
    let fixture = tls_gateway(&pki, false, pki.trusting_client()).await;

    // A client that speaks only HTTP/1.1, and says so during the handshake (ALPN).
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
    let tcp = tokio::net::TcpStream::connect(fixture.gateway.address)
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the gateway accepts an HTTP/1.1 client over TLS");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let encoded = pb::WhoAmIRequest {}.encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(u32::try_from(encoded.len()).unwrap());
    body.put_slice(&encoded);
    let request = http::Request::post("/eyrie.v1.AccessService/WhoAmI")
        .header("host", "localhost")
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {}", fixture.token))
        .body(Full::new(body.freeze()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_11);

    let mut bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut frames = Vec::new();
    while bytes.has_remaining() {
        let flags = bytes.get_u8();
        let len = bytes.get_u32() as usize;
        frames.push((flags, bytes.split_to(len)));
    }
    assert_eq!(frames.len(), 2, "a message and the trailers: {frames:?}");
    let who = pb::WhoAmIResponse::decode(frames[0].1.clone()).unwrap();
    assert!(who.token.unwrap().global_admin);
    let trailers = String::from_utf8(frames[1].1.to_vec()).unwrap();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}
