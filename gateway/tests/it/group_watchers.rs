//! Watchers of one deployment group share one upstream stream: each gets the group's current
//! state, the marker, then every change, in order.

use std::collections::BTreeMap;

use eyrie_proto::v1::{
    self as pb, deployment_service_client::DeploymentServiceClient,
    watch_deployments_response::Kind,
};
use tonic::Streaming;

use crate::{
    fixture::Fixture,
    scripted_deployments::{GROUP, ScriptedDeployments},
};

async fn watch(
    fixture: &Fixture,
    channel: tonic::transport::Channel,
) -> Streaming<pb::WatchDeploymentsResponse> {
    let request = eyrie_tests::auth::with_token(
        &fixture.token,
        pb::WatchDeploymentsRequest {
            parent: GROUP.into(),
            show_dropped: false,
        },
    );
    DeploymentServiceClient::new(channel)
        .watch_deployments(request)
        .await
        .unwrap()
        .into_inner()
}

/// The initial state (name → image) up to the marker.
async fn initial_state(
    stream: &mut Streaming<pb::WatchDeploymentsResponse>,
) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    loop {
        match stream.message().await.unwrap().unwrap().kind {
            Some(Kind::Deployment(d)) => {
                state.insert(d.name, d.image);
            }
            Some(Kind::InitialStateComplete(_)) => return state,
            _ => {}
        }
    }
}

/// The next `count` changes, as (name, image).
async fn changes(
    stream: &mut Streaming<pb::WatchDeploymentsResponse>,
    count: usize,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        if let Some(Kind::Deployment(d)) = stream.message().await.unwrap().unwrap().kind {
            seen.push((d.name, d.image));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_of_a_group_share_one_stream_and_late_ones_start_from_the_latest_state() {
    let deployments = ScriptedDeployments::default();
    let url = deployments.serve().await;
    let fixture = Fixture::start(|settings| {
        settings.backends.deployment = url;
        settings.limits.requests_per_second = 0.0;
    })
    .await;
    deployments.set("shop", "odoo:17");
    deployments.set("blog", "ghost:5");
    let channel = fixture.channel().await;

    let mut early = Vec::new();
    for _ in 0..50 {
        early.push(watch(&fixture, channel.clone()).await);
    }
    for stream in &mut early {
        assert_eq!(initial_state(stream).await, deployments.latest());
    }
    deployments.set("shop", "odoo:18");
    deployments.set("blog", "ghost:6");
    let expected = vec![
        (format!("{GROUP}/deployments/shop"), "odoo:18".to_owned()),
        (format!("{GROUP}/deployments/blog"), "ghost:6".to_owned()),
    ];
    for stream in &mut early {
        assert_eq!(changes(stream, 2).await, expected);
    }

    // A late watcher starts from the latest states, not from the history of changes.
    let mut late = watch(&fixture, channel.clone()).await;
    assert_eq!(initial_state(&mut late).await, deployments.latest());
    deployments.set("shop", "odoo:19");
    let next = vec![(format!("{GROUP}/deployments/shop"), "odoo:19".to_owned())];
    assert_eq!(changes(&mut late, 1).await, next);
    for stream in &mut early {
        assert_eq!(changes(stream, 1).await, next);
    }
    assert_eq!(deployments.watch_calls(), 1);
}
