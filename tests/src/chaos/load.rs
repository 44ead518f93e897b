//! The load: deployments cycled through deploy, update, pause and deploy again through both
//! gateways, every call retried on a transient failure with its request id (so a retry never
//! acts twice), and a follower on every job's events that resumes after the last one it saw.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use eyrie_platform::peer_status::PeerFailure;
use eyrie_proto::v1 as pb;
use tokio_stream::StreamExt as _;
use tonic::{Status, transport::Channel};

use crate::journey::Gateway;

/// Longest one call may keep failing transiently (replicas restarting) before the run fails.
const CALL_PATIENCE: Duration = Duration::from_secs(120);

/// Longest one operation may run before the deployment counts as stuck.
const OPERATION_PATIENCE: Duration = Duration::from_secs(180);

/// The gateways, taken in turn.
#[derive(Clone)]
pub struct Clients {
    gateways: Arc<Vec<Gateway>>,
    next: Arc<AtomicUsize>,
    /// Calls that failed transiently and were tried again.
    pub retries: Arc<AtomicUsize>,
}

impl Clients {
    /// Clients of the gateways at `urls`, as `token`.
    pub fn new(urls: &[String], token: &str) -> anyhow::Result<Self> {
        let gateways = urls
            .iter()
            .map(|url| {
                let channel = Channel::from_shared(url.clone())?
                    .connect_timeout(Duration::from_secs(2))
                    .connect_lazy();
                Ok(Gateway::new(channel, token))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            gateways: Arc::new(gateways),
            next: Arc::default(),
            retries: Arc::default(),
        })
    }

    /// The next gateway.
    pub fn pick(&self) -> Gateway {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.gateways.len();
        self.gateways[at].clone()
    }

    /// Runs `call` on the gateways in turn until it answers, or fails for good.
    pub async fn call<T, F, Fut>(&self, what: &str, call: F) -> anyhow::Result<T>
    where
        F: Fn(Gateway) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = tokio::time::Instant::now() + CALL_PATIENCE;
        loop {
            match call(self.pick()).await {
                Ok(answer) => return Ok(answer),
                Err(status)
                    if PeerFailure::of(status.code()).is_transient()
                        && tokio::time::Instant::now() < deadline =>
                {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => bail!("{what}: {status:?}"),
            }
        }
    }
}

/// What one deployment's cycles did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Operations that ended succeeded.
    pub operations: usize,
    /// The images the deployment had, in order, each one a key-field change.
    pub images: Vec<String>,
    /// The jobs its operations ran.
    pub jobs: Vec<String>,
    /// A follower of each job, started as soon as the job appeared (live, not afterwards).
    pub followers: Vec<tokio::task::JoinHandle<anyhow::Result<Followed>>>,
}

/// Runs `cycles` of deploy → change the image → pause → deploy on `deployment`.
pub async fn cycle(
    clients: &Clients,
    deployment: &str,
    first_image: &str,
    cycles: usize,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        images: vec![first_image.to_owned()],
        ..Outcome::default()
    };
    // Request ids are kept per group: each names its deployment and its step.
    let slug = deployment.rsplit('/').next().unwrap_or(deployment);
    let id = |round: usize, step: &str| format!("{slug}-r{round}-{step}");
    for round in 0..cycles {
        act(
            clients,
            deployment,
            "deploy",
            &id(round, "deploy"),
            &mut outcome,
        )
        .await?;
        let image = format!("nginx:1.{round}.{}", round + 1);
        update_image(clients, deployment, &image, &id(round, "image")).await?;
        outcome.images.push(image);
        act(
            clients,
            deployment,
            "pause",
            &id(round, "pause"),
            &mut outcome,
        )
        .await?;
        act(
            clients,
            deployment,
            "deploy",
            &id(round, "again"),
            &mut outcome,
        )
        .await?;
    }
    Ok(outcome)
}

async fn update_image(
    clients: &Clients,
    deployment: &str,
    image: &str,
    request_id: &str,
) -> anyhow::Result<()> {
    clients
        .call("UpdateDeployment", |mut gateway| async move {
            let request = gateway.request(pb::UpdateDeploymentRequest {
                deployment: Some(pb::Deployment {
                    name: deployment.to_owned(),
                    image: image.to_owned(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["image".to_owned()],
                }),
                request_id: request_id.to_owned(),
            });
            gateway.deployments.update_deployment(request).await
        })
        .await?;
    Ok(())
}

/// Deploy or Pause `deployment`, then waits for the operation's end, which must be a success.
async fn act(
    clients: &Clients,
    deployment: &str,
    action: &str,
    request_id: &str,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let operation = clients
        .call(action, |mut gateway| async move {
            match action {
                "deploy" => {
                    let request = gateway.request(pb::DeployDeploymentRequest {
                        name: deployment.to_owned(),
                        request_id: request_id.to_owned(),
                        ..Default::default()
                    });
                    gateway.deployments.deploy_deployment(request).await
                }
                _ => {
                    let request = gateway.request(pb::PauseDeploymentRequest {
                        name: deployment.to_owned(),
                        request_id: request_id.to_owned(),
                    });
                    gateway.deployments.pause_deployment(request).await
                }
            }
        })
        .await?
        .into_inner();
    let deadline = tokio::time::Instant::now() + OPERATION_PATIENCE;
    loop {
        let now = clients
            .call("GetOperation", |mut gateway| {
                let name = operation.name.clone();
                async move { gateway.operation(&name).await.map_err(to_status) }
            })
            .await?;
        for job in &now.jobs {
            if !outcome.jobs.contains(job) {
                outcome.jobs.push(job.clone());
                outcome
                    .followers
                    .push(tokio::spawn(follow(clients.clone(), job.clone())));
            }
        }
        match now.status() {
            pb::OperationStatus::Running => {
                if tokio::time::Instant::now() > deadline {
                    bail!("{deployment}: {action} stuck running: {now:?}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            pb::OperationStatus::Succeeded => {
                outcome.operations += 1;
                return Ok(());
            }
            _ => bail!(
                "{deployment}: {action} ended {:?}: {}",
                now.status(),
                now.message
            ),
        }
    }
}

/// A journey helper's error back to the status it carried.
pub fn to_status(error: anyhow::Error) -> Status {
    match error.downcast::<Status>() {
        Ok(status) => status,
        Err(other) => Status::unknown(other.to_string()),
    }
}

/// What a follower of one job saw.
#[derive(Debug, Default)]
pub struct Followed {
    /// Sequence numbers, in the order received.
    pub sequences: Vec<u64>,
    /// `JobEnded` events received.
    pub ends: usize,
    /// Times the stream was opened again.
    pub resumes: usize,
}

/// Follows `job`'s events from the start to its end through the gateways, opening the stream
/// again after the last sequence seen whenever it breaks.
pub async fn follow(clients: Clients, job: String) -> anyhow::Result<Followed> {
    let mut followed = Followed::default();
    let deadline = tokio::time::Instant::now() + OPERATION_PATIENCE;
    loop {
        let after = followed.sequences.last().copied().unwrap_or(0);
        let mut gateway = clients.pick();
        let request = gateway.request(pb::WatchJobRequest {
            name: job.clone(),
            after_sequence: after,
        });
        let broken = match gateway.jobs.watch_job(request).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.next().await {
                        Some(Ok(message)) => {
                            if let Some(pb::watch_job_response::Kind::Event(event)) = message.kind {
                                followed.sequences.push(event.sequence);
                                if matches!(event.kind, Some(pb::job_event::Kind::JobEnded(_))) {
                                    followed.ends += 1;
                                }
                            }
                        }
                        Some(Err(status)) => break status,
                        None if followed.ends > 0 => return Ok(followed),
                        None => break Status::unavailable("the stream ended before the job"),
                    }
                }
            }
            Err(status) => status,
        };
        if !PeerFailure::of(broken.code()).stream_worth_reopening() {
            return Err(broken).context(format!("following {job}"));
        }
        if tokio::time::Instant::now() > deadline {
            bail!("following {job}: never saw its end ({broken:?})");
        }
        followed.resumes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a watcher of one group saw: each deployment's revisions, in the order received.
#[derive(Debug, Default)]
pub struct GroupSeen {
    /// Deployment name → the revisions its messages carried.
    pub revisions: std::collections::HashMap<String, Vec<i64>>,
    /// Times the stream was opened again.
    pub resumes: usize,
}

/// Watches `group` through the gateways until `stop`, opening the stream again whenever it
/// breaks (a new stream starts with the group's whole state, then its changes).
pub async fn watch_group(
    clients: Clients,
    group: String,
    seen: Arc<std::sync::Mutex<GroupSeen>>,
    stop: tokio_util::sync::CancellationToken,
) {
    while !stop.is_cancelled() {
        let mut gateway = clients.pick();
        let request = gateway.request(pb::WatchDeploymentsRequest {
            parent: group.clone(),
            show_dropped: false,
        });
        let watched = async {
            let mut stream = gateway
                .deployments
                .watch_deployments(request)
                .await?
                .into_inner();
            while let Some(message) = stream.next().await {
                if let Some(pb::watch_deployments_response::Kind::Deployment(deployment)) =
                    message?.kind
                {
                    let mut seen = seen.lock().unwrap();
                    seen.revisions
                        .entry(deployment.name)
                        .or_default()
                        .push(deployment.revision);
                }
            }
            Ok::<(), Status>(())
        };
        tokio::select! {
            _ = watched => {}
            () = stop.cancelled() => return,
        }
        seen.lock().unwrap().resumes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
