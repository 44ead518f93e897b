//! Browsers call the gateway with gRPC-Web: plain HTTP/1.1 POSTs, CORS where allowed.

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use eyrie_proto::v1 as pb;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prost::Message as _;

use eyrie_tests::scripted_job::JOB;

use crate::fixture::Fixture;

const CONSOLE: &str = "https://console.example.com";

/// One gRPC-Web call over HTTP/1.1: the response status, headers and body frames.
async fn grpc_web_call(
    fixture: &Fixture,
    path: &str,
    message: &impl prost::Message,
) -> (http::StatusCode, http::HeaderMap, Vec<(u8, Bytes)>) {
    let encoded = message.encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(u32::try_from(encoded.len()).unwrap());
    body.put_slice(&encoded);
    let request = http::Request::post(format!("{}{path}", fixture.gateway.url()))
        .version(http::Version::HTTP_11)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {}", fixture.token))
        .body(Full::new(body.freeze()))
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let mut bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut frames = Vec::new();
    while bytes.has_remaining() {
        let flags = bytes.get_u8();
        let len = bytes.get_u32() as usize;
        frames.push((flags, bytes.split_to(len)));
    }
    (status, headers, frames)
}

fn trailers(frames: &[(u8, Bytes)]) -> String {
    let (flags, trailer) = frames.last().expect("a trailer frame");
    assert_eq!(flags & 0x80, 0x80, "the last frame holds the trailers");
    String::from_utf8(trailer.to_vec()).unwrap().to_lowercase()
}

#[tokio::test]
async fn a_grpc_web_post_over_http1_is_answered() {
    let fixture = Fixture::start(|_| {}).await;
    let (status, headers, frames) = grpc_web_call(
        &fixture,
        "/eyrie.v1.AccessService/WhoAmI",
        &pb::WhoAmIRequest {},
    )
    .await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web"),
        "{headers:?}"
    );
    assert_eq!(frames.len(), 2, "{frames:?}");
    let who = pb::WhoAmIResponse::decode(frames[0].1.clone()).unwrap();
    assert!(who.token.unwrap().global_admin);
    assert!(trailers(&frames).contains("grpc-status:0"), "{frames:?}");
}

#[tokio::test]
async fn a_browser_watches_a_job_over_grpc_web() {
    let fixture = Fixture::start(|_| {}).await;
    for _ in 0..3 {
        fixture.runner.log(10);
    }
    fixture.runner.end();
    let (status, _, frames) = grpc_web_call(
        &fixture,
        "/eyrie.v1.JobService/WatchJob",
        &pb::WatchJobRequest {
            name: JOB.into(),
            after_sequence: 0,
        },
    )
    .await;
    assert_eq!(status, http::StatusCode::OK);
    let sequences: Vec<u64> = frames
        .iter()
        .filter(|(flags, _)| flags & 0x80 == 0)
        .filter_map(
            |(_, message)| match pb::WatchJobResponse::decode(message.clone()) {
                Ok(pb::WatchJobResponse {
                    kind: Some(pb::watch_job_response::Kind::Event(event)),
                }) => Some(event.sequence),
                _ => None,
            },
        )
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4]);
    assert!(trailers(&frames).contains("grpc-status:0"), "{frames:?}");
}

/// A CORS preflight from `origin`; the `access-control-allow-origin` it got, if any.
async fn preflight(fixture: &Fixture, origin: &str) -> Option<String> {
    let request = http::Request::builder()
        .method(http::Method::OPTIONS)
        .uri(format!(
            "{}/eyrie.v1.AccessService/WhoAmI",
            fixture.gateway.url()
        ))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let fixture = Fixture::start(|settings| {
        settings.grpc_web.allowed_origins = vec![CONSOLE.into()];
    })
    .await;
    assert_eq!(preflight(&fixture, CONSOLE).await.as_deref(), Some(CONSOLE));
    assert_eq!(preflight(&fixture, "https://evil.example.com").await, None);
}
