//! The watches are pushed: WatchOperation follows an operation phase by phase to its end, and
//! a change made through one replica reaches the watchers of another (PostgreSQL).

use std::time::Duration;

use eyrie_deployment_svc::{DeploymentSvc, Settings};
use eyrie_platform::{
    ServerSettings,
    testing::{TestServer, postgres_test_database},
};
use eyrie_proto::v1::{
    self as pb, OperationPhaseStatus as Phase, deployment_service_client::DeploymentServiceClient,
    watch_deployments_response, watch_operation_response,
};
use eyrie_tests::journey::Controllers;
use tokio_stream::StreamExt as _;
use tonic::{Code, Streaming, transport::Channel};

use crate::{
    harness::{as_admin, update_request},
    lifecycle::{SHOP, create, ended, start_deploy, suites},
};

/// The WatchOperation stream of operation `name`.
async fn watch_operation(
    client: &mut DeploymentServiceClient<Channel>,
    name: &str,
) -> Streaming<pb::WatchOperationResponse> {
    client
        .watch_operation(as_admin(pb::WatchOperationRequest { name: name.into() }))
        .await
        .unwrap()
        .into_inner()
}

/// Every operation `stream` sends, until it ends (bounded, so a stream that never ends fails the
/// test instead of hanging it).
async fn forms(mut stream: Streaming<pb::WatchOperationResponse>) -> Vec<pb::Operation> {
    let mut forms = Vec::new();
    let read = async {
        while let Some(message) = stream.next().await {
            if let Some(watch_operation_response::Kind::Operation(operation)) =
                message.unwrap().kind
            {
                forms.push(operation);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the operation's stream did not end within a minute");
    forms
}

/// Reads `stream` up to the end of its initial state (bounded).
async fn initial_state(stream: &mut Streaming<pb::WatchDeploymentsResponse>) {
    let initial = async {
        while let Some(message) = stream.next().await {
            if let Some(watch_deployments_response::Kind::InitialStateComplete(_)) =
                message.unwrap().kind
            {
                return;
            }
        }
        panic!("the stream ended before its initial state");
    };
    tokio::time::timeout(Duration::from_secs(60), initial)
        .await
        .expect("no initial state");
}

/// Each phase's job and status in `operation`.
fn phases(operation: &pb::Operation) -> Vec<(pb::BookPhase, bool, Phase)> {
    operation
        .phases
        .iter()
        .map(|phase| (phase.phase(), !phase.job.is_empty(), phase.status()))
        .collect()
}

#[tokio::test]
async fn watch_operation_shows_both_phases_of_a_deploy_from_draft_then_ends() {
    use pb::BookPhase::{Deploy, Initialize};
    for (backend, mut suite) in suites().await {
        create(&mut suite.client, suite.root.path()).await;
        let accepted = start_deploy(&mut suite.client, SHOP).await;
        assert_eq!(
            accepted
                .phases
                .iter()
                .map(|p| p.phase())
                .collect::<Vec<_>>(),
            [Initialize, Deploy],
            "{backend}: a Deploy from draft announces both phases"
        );

        // Watched before the controllers play the cluster: the deploy book waits for them, so
        // the stream cannot miss the deploy phase running, however slow the machine.
        let stream = watch_operation(&mut suite.client, &accepted.name).await;
        let _controllers = Controllers::start(suite.root.path().to_path_buf());
        let forms = forms(stream).await;

        let last = forms.last().expect("at least one form");
        assert_eq!(last.status(), pb::OperationStatus::Succeeded, "{backend}");
        assert_eq!(
            phases(last),
            [
                (Initialize, true, Phase::Succeeded),
                (Deploy, true, Phase::Succeeded)
            ],
            "{backend}"
        );
        assert_eq!(
            last.phases
                .iter()
                .map(|p| p.job.clone())
                .collect::<Vec<_>>(),
            last.jobs,
            "{backend}: each phase names its job"
        );
        assert!(
            forms
                .iter()
                .any(|form| phases(form)[1] == (Deploy, true, Phase::Running)),
            "{backend}: the deploy phase was seen running: {:?}",
            forms.iter().map(phases).collect::<Vec<_>>()
        );
        assert!(
            forms[..forms.len() - 1]
                .iter()
                .all(|form| form.status() == pb::OperationStatus::Running),
            "{backend}: the stream ends with the first form that shows the end"
        );

        // An operation that ended: one form, and the stream ends.
        let again = self::forms(watch_operation(&mut suite.client, &accepted.name).await).await;
        assert_eq!(again, std::slice::from_ref(last), "{backend}");
    }
}

#[tokio::test]
async fn watch_operation_refuses_names_that_are_not_operations_and_unknown_ones() {
    for (backend, mut suite) in suites().await {
        create(&mut suite.client, suite.root.path()).await;
        let watch = |name: &str| {
            let mut client = suite.client.clone();
            let request = as_admin(pb::WatchOperationRequest { name: name.into() });
            async move { client.watch_operation(request).await.map(|_| ()) }
        };
        let malformed = watch("projects/acme/groups/apps").await.unwrap_err();
        assert_eq!(malformed.code(), Code::InvalidArgument, "{backend}");
        assert!(
            malformed.message().contains("name"),
            "{backend}: {malformed:?}"
        );
        let unknown = watch(&format!("{SHOP}/operations/nope")).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{backend}");
    }
}

/// Two replicas of deployment-svc on one PostgreSQL database, as in production.
async fn two_replicas() -> Option<(TestServer, TestServer, tempfile::TempDir)> {
    let database = postgres_test_database()?;
    let start = || {
        TestServer::start::<DeploymentSvc>(Settings {
            server: ServerSettings::loopback_any_port(),
            database: database.clone(),
            ..Default::default()
        })
    };
    let first = start().await.unwrap();
    let second = start().await.unwrap();
    Some((first, second, tempfile::tempdir().unwrap()))
}

#[tokio::test]
async fn a_change_made_through_one_replica_reaches_the_watchers_of_another() {
    let Some((first, second, root)) = two_replicas().await else {
        return; // needs PostgreSQL: on SQLite one process owns the database
    };
    let mut writer = DeploymentServiceClient::new(first.channel().await.unwrap());
    let mut watcher = DeploymentServiceClient::new(second.channel().await.unwrap());
    create(&mut writer, root.path()).await;
    let mut stream = watcher
        .watch_deployments(as_admin(pb::WatchDeploymentsRequest {
            parent: "projects/acme/groups/apps".into(),
            show_dropped: false,
        }))
        .await
        .unwrap()
        .into_inner();
    initial_state(&mut stream).await;

    let mut shop = crate::harness::get(&mut writer, SHOP).await;
    shop.image = "nginx:1.28".into();
    writer
        .update_deployment(as_admin(update_request(shop, &["image"])))
        .await
        .unwrap();

    // Far below the watch's own slow resynchronisation (a minute): only the signal explains it.
    let change = async {
        while let Some(message) = stream.next().await {
            if let Some(watch_deployments_response::Kind::Deployment(deployment)) =
                message.unwrap().kind
                && deployment.name == SHOP
            {
                return deployment;
            }
        }
        panic!("the stream ended");
    };
    let changed = tokio::time::timeout(Duration::from_secs(30), change)
        .await
        .expect("the other replica's change never reached the watcher");
    assert_eq!(changed.image, "nginx:1.28");
}

#[tokio::test]
async fn a_dropped_deployment_is_sent_once_in_its_dropped_state() {
    for (backend, mut suite) in suites().await {
        create(&mut suite.client, suite.root.path()).await;
        let mut stream = suite
            .client
            .watch_deployments(as_admin(pb::WatchDeploymentsRequest {
                parent: "projects/acme/groups/apps".into(),
                show_dropped: false,
            }))
            .await
            .unwrap()
            .into_inner();
        // The deployment is in the initial state before it is dropped.
        initial_state(&mut stream).await;
        let dropped = suite
            .client
            .drop_deployment(as_admin(pb::DropDeploymentRequest {
                name: SHOP.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ended(&mut suite.client, &dropped.name).await.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        let seen = async {
            while let Some(message) = stream.next().await {
                if let Some(watch_deployments_response::Kind::Deployment(deployment)) =
                    message.unwrap().kind
                    && deployment.name == SHOP
                    && deployment.state() == pb::DeploymentState::Dropped
                {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), seen)
            .await
            .unwrap_or_else(|_| panic!("{backend}: the drop was never sent"));
    }
}
