//! Watchers of one operation share one upstream stream: each gets the operation as it is, then
//! each time it moves, and its stream ends after the form that shows the end.

use eyrie_proto::v1::{
    self as pb, OperationStatus, deployment_service_client::DeploymentServiceClient,
    watch_operation_response::Kind,
};
use tonic::Streaming;

use crate::{
    fixture::Fixture,
    scripted_deployments::{OPERATION, ScriptedDeployments},
};

async fn watch(
    fixture: &Fixture,
    channel: tonic::transport::Channel,
    name: &str,
) -> Result<Streaming<pb::WatchOperationResponse>, tonic::Status> {
    let request = eyrie_tests::auth::with_token(
        &fixture.token,
        pb::WatchOperationRequest { name: name.into() },
    );
    Ok(DeploymentServiceClient::new(channel)
        .watch_operation(request)
        .await?
        .into_inner())
}

/// The next form on `stream`, as (jobs, status); `None` once the stream ended.
async fn next_form(
    stream: &mut Streaming<pb::WatchOperationResponse>,
) -> Option<(usize, OperationStatus)> {
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(Kind::Operation(operation)) = message.kind {
            return Some((operation.jobs.len(), operation.status()));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_of_an_operation_share_one_stream_that_ends_with_the_operation() {
    let deployments = ScriptedDeployments::default();
    let url = deployments.serve().await;
    let fixture = Fixture::start(|settings| {
        settings.backends.deployment = url;
        settings.limits.requests_per_second = 0.0;
    })
    .await;
    let channel = fixture.channel().await;
    deployments.move_operation(&["init"], OperationStatus::Running);

    let mut watchers = Vec::new();
    for _ in 0..20 {
        watchers.push(watch(&fixture, channel.clone(), OPERATION).await.unwrap());
    }
    for stream in &mut watchers {
        assert_eq!(next_form(stream).await, Some((1, OperationStatus::Running)));
    }
    deployments.move_operation(&["init", "deploy"], OperationStatus::Running);
    for stream in &mut watchers {
        assert_eq!(next_form(stream).await, Some((2, OperationStatus::Running)));
    }
    deployments.move_operation(&["init", "deploy"], OperationStatus::Succeeded);
    for stream in &mut watchers {
        assert_eq!(
            next_form(stream).await,
            Some((2, OperationStatus::Succeeded))
        );
        assert_eq!(
            next_form(stream).await,
            None,
            "the stream ends with the operation"
        );
    }
    assert_eq!(deployments.operation_watch_calls(), 1);

    let unknown = watch(&fixture, channel, &format!("{OPERATION}x"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
