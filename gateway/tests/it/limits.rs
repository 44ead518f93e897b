//! What one caller may ask of the gateway, and what the gateway says of its backends.

use std::time::Duration;

use eyrie_proto::v1::{
    self as pb, access_service_client::AccessServiceClient, book_service_client::BookServiceClient,
};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use eyrie_tests::auth::with_token;

use crate::fixture::Fixture;

/// Nothing listens on port 1 of loopback.
const DOWN: &str = "http://127.0.0.1:1";

#[tokio::test]
async fn a_token_over_its_rate_is_refused_with_resource_exhausted() {
    let fixture = Fixture::start(|settings| {
        settings.limits.requests_per_second = 1.0;
        settings.limits.burst = 3;
    })
    .await;
    let mut access = AccessServiceClient::new(fixture.channel().await);
    for _ in 0..3 {
        access
            .who_am_i(with_token(&fixture.token, pb::WhoAmIRequest {}))
            .await
            .unwrap();
    }
    let status = access
        .who_am_i(with_token(&fixture.token, pb::WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry in"), "{status:?}");
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_it_reaches_a_backend() {
    let fixture = Fixture::start(|settings| settings.limits.max_message_size = 1024).await;
    let status = BookServiceClient::new(fixture.channel().await)
        .validate_book(with_token(
            &fixture.token,
            pb::ValidateBookRequest {
                content: Some(pb::validate_book_request::Content::Source(pb::BookSource {
                    format: pb::BookFormat::Yaml.into(),
                    text: "x".repeat(4096),
                })),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

#[tokio::test]
async fn health_reports_the_services_of_a_backend_that_is_down_as_not_serving() {
    let fixture = Fixture::start(|settings| {
        settings.backends.deployment = DOWN.into();
        settings.backends.version = DOWN.into();
        settings.backends.health_check_interval = Duration::from_millis(100);
    })
    .await;
    let mut health = HealthClient::new(fixture.channel().await);
    let status_of = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let mut version = ServingStatus::Serving;
    for _ in 0..100 {
        version = health
            .check(status_of("eyrie.v1.VersionService"))
            .await
            .unwrap()
            .into_inner()
            .status();
        if version == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(version, ServingStatus::NotServing);
    // The scripted runner answers: its services stay serving, and so does the gateway itself.
    let jobs = health
        .check(status_of("eyrie.v1.JobService"))
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(jobs, ServingStatus::Serving);
    let whole = health.check(status_of("")).await.unwrap().into_inner();
    assert_eq!(whole.status(), ServingStatus::Serving);
}
