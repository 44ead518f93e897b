//! B7: deployment-svc's CPU while one WatchDeployments stream of a large group sits idle, against
//! the same process over the same time with no watcher. A watch is pushed (it reads what a change
//! signal names, and the whole group only on a slow resynchronisation): an idle one should cost
//! next to nothing, however large its group.

use std::time::Duration;

use eyrie_proto::v1::{
    self as pb, deployment_service_client::DeploymentServiceClient,
    watch_deployments_response::Kind,
};
use eyrie_tests::Suite;
use futures::future::try_join_all;

use super::{cpu, seed};
use crate::{
    Scale,
    report::{Row, verdict},
};

/// Deployments created at once while filling the group.
const CONCURRENCY: usize = 8;

/// Share of one core that `pid` used over `window`.
async fn core_share(pid: u32, window: Duration) -> f64 {
    let before = cpu::of_process(pid);
    tokio::time::sleep(window).await;
    (cpu::of_process(pid) - before).as_secs_f64() / window.as_secs_f64()
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let suite = Suite::start().await?;
    seed::seed(&suite).await?;
    let client = DeploymentServiceClient::new(suite.deployment.channel().await?);
    // The seed made one deployment of group `web`; the others join it.
    let create = |index: usize| {
        let mut client = client.clone();
        async move {
            client
                .create_deployment(pb::CreateDeploymentRequest {
                    parent: "projects/bench/groups/web".into(),
                    deployment_id: format!("d{index}"),
                    deployment: Some(pb::Deployment {
                        display_name: format!("D{index}"),
                        scope: "projects/bench/scopes/dev".into(),
                        clusters: vec!["projects/bench/clusters/local".into()],
                        image: "nginx:1.27".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?;
            anyhow::Ok(())
        }
    };
    let indices: Vec<usize> = (1..scale.group_size).collect();
    for batch in indices.chunks(CONCURRENCY) {
        try_join_all(batch.iter().map(|index| create(*index))).await?;
    }
    let pid = suite.deployment.pid();
    let window = Duration::from_secs(scale.idle_seconds);
    // The relay and the reconciler settle after the burst of creates.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alone = core_share(pid, window).await;

    let mut watcher = client
        .clone()
        .watch_deployments(pb::WatchDeploymentsRequest {
            parent: "projects/bench/groups/web".into(),
            show_dropped: false,
        })
        .await?
        .into_inner();
    let mut initial = 0;
    while let Some(message) = watcher.message().await? {
        match message.kind {
            Some(Kind::Deployment(_)) => initial += 1,
            Some(Kind::InitialStateComplete(_)) => break,
            _ => {}
        }
    }
    anyhow::ensure!(
        initial == scale.group_size,
        "the watcher saw {initial} deployments of {}",
        scale.group_size
    );
    let watched = core_share(pid, window).await;
    drop(watcher);

    let ratio = watched / alone.max(0.001);
    Ok(vec![Row {
        id: "B7",
        what: format!(
            "deployment-svc CPU with one idle WatchDeployments of a group of {} deployments ({} s)",
            scale.group_size, scale.idle_seconds
        ),
        value: format!("{:.2} % of a core", watched * 100.0),
        floor: format!("no watcher {:.2} %", alone * 100.0),
        ratio: format!("{ratio:.2}x"),
        target: format!(
            "≤ 2x, or within 0.5 % of a core: {}",
            verdict(ratio <= 2.0 || watched - alone <= 0.005)
        ),
    }])
}
