//! WatchDeployments: the current state of every deployment of a group, then each change (state,
//! last operation, running-job count, current version), with heartbeats while idle.
//!
//! The group is read whole once; after that a stream reads only the deployment a change signal
//! names (see `eyrie_platform::changes`: signals reach every replica), so an idle watcher costs
//! nothing and a busy group costs one read per change. A signal that may have been missed makes
//! the stream read the whole group again, as does a slow timer, [`RESYNC`]. The gateway shares
//! one such stream per group between all its watchers.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use eyrie_platform::changes::Signal;
use eyrie_proto::v1::{self as pb, watch_deployments_response::Kind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, codegen::BoxStream};

use super::convert::operation_to_proto;
use super::{
    convert::{deployment_to_proto, timestamp},
    status::invalid,
};
use crate::{
    domain::{
        DeploymentError,
        names::GroupName,
        resources::{Deployment, DeploymentQuery, DeploymentState, PageRequest},
    },
    service::{lifecycle::Lifecycle, resources::Resources},
    store::resources::find_deployment,
};

/// Heartbeat period of an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often the whole group is read again regardless of signals: the bound on how late a change
/// whose signal was lost (its replica died between commit and signal) is sent.
const RESYNC: Duration = Duration::from_secs(60);
/// Deployments read per page.
const PAGE: u64 = 500;

/// What a watcher last sent of a deployment: a change of any of it is sent again.
type Sent = (i64, i32, i64);

fn sent(deployment: &Deployment) -> Sent {
    (
        deployment.revision,
        deployment.running_job_count,
        deployment.current_version,
    )
}

/// Opens the stream of group `parent`.
pub async fn watch(
    resources: Arc<Resources>,
    lifecycle: Arc<Lifecycle>,
    request: Request<pb::WatchDeploymentsRequest>,
) -> Result<Response<BoxStream<pb::WatchDeploymentsResponse>>, Status> {
    let request = request.into_inner();
    let group = GroupName::parse("parent", &request.parent).map_err(invalid)?;
    resources.get_group(&group).await?;
    let (sender, receiver) = mpsc::channel(64);
    let stream = GroupStream {
        members: format!("{group}/deployments/"),
        group,
        show_dropped: request.show_dropped,
        resources,
        lifecycle,
        sender,
        seen: HashMap::new(),
    };
    tokio::spawn(stream.run());
    Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
}

/// One client's stream of one group.
struct GroupStream {
    group: GroupName,
    /// The prefix of the names of the group's deployments.
    members: String,
    show_dropped: bool,
    resources: Arc<Resources>,
    lifecycle: Arc<Lifecycle>,
    sender: mpsc::Sender<Result<pb::WatchDeploymentsResponse, Status>>,
    /// What was sent of each deployment shown.
    seen: HashMap<String, Sent>,
}

/// The client left, or the stream failed and said so.
struct Closed;

impl GroupStream {
    async fn run(mut self) {
        // Subscribed before the first read, so that no change after it is missed; to the
        // group's topic, so that other groups' changes never wake this stream.
        let mut signals = self.resources.changes().subscribe_to(&self.members);
        if self.read_group().await.is_err() {
            return;
        }
        let complete = Kind::InitialStateComplete(Default::default());
        if self.send(complete).await.is_err() {
            return;
        }
        let mut heartbeat =
            tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
        loop {
            let result = tokio::select! {
                signal = signals.next() => match signal {
                    Some(Signal::Changed(name)) => self.read_one(&name).await,
                    Some(Signal::Resync) => self.read_group().await,
                    None => return,
                },
                _ = resync.tick() => self.read_group().await,
                _ = heartbeat.tick() => {
                    let time = Some(timestamp(chrono::Utc::now()));
                    self.send(Kind::Heartbeat(pb::Heartbeat { time })).await.map(|()| false)
                }
                () = self.sender.closed() => return,
            };
            match result {
                Ok(true) => heartbeat.reset(),
                Ok(false) => {}
                Err(Closed) => return,
            }
        }
    }

    /// Reads the whole group and sends what changed; true when something was sent.
    async fn read_group(&mut self) -> Result<bool, Closed> {
        let deployments = match read(&self.resources, &self.group, self.show_dropped).await {
            Ok(deployments) => deployments,
            Err(status) => return Err(self.fail(status).await),
        };
        let mut shown = HashSet::with_capacity(deployments.len());
        let mut sent_any = false;
        for deployment in deployments {
            shown.insert(deployment.name.to_string());
            sent_any |= self.offer(deployment).await?;
        }
        // Deployments shown before and no longer listed were dropped: each is sent once more, in
        // its dropped state.
        let gone: Vec<String> = self
            .seen
            .keys()
            .filter(|name| !shown.contains(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            sent_any |= self.read_one(&name).await?;
        }
        Ok(sent_any)
    }

    /// Reads deployment `name` of the group and sends it if it changed; true when sent.
    async fn read_one(&mut self, name: &str) -> Result<bool, Closed> {
        match find_deployment(self.resources.store().db(), name).await {
            Ok(Some(deployment)) => self.offer(deployment).await,
            Ok(None) => Ok(false),
            Err(err) => Err(self.fail(DeploymentError::from(err).into()).await),
        }
    }

    /// Sends `deployment` unless the client has it as it is, or it is dropped and hidden.
    async fn offer(&mut self, deployment: Deployment) -> Result<bool, Closed> {
        let name = deployment.name.to_string();
        let now = sent(&deployment);
        let hidden = deployment.state == DeploymentState::Dropped && !self.show_dropped;
        let before = if hidden {
            // Without show_dropped, a dropped deployment is sent once, if it was shown before.
            match self.seen.remove(&name) {
                Some(before) => Some(before),
                None => return Ok(false),
            }
        } else {
            self.seen.insert(name, now)
        };
        if before == Some(now) {
            return Ok(false);
        }
        let operation = match &deployment.last_operation {
            Some(name) => self
                .lifecycle
                .operation(name)
                .await
                .ok()
                .map(|op| operation_to_proto(&op)),
            None => None,
        };
        let kind = Kind::Deployment(deployment_to_proto(&deployment, operation));
        self.send(kind).await.map(|()| true)
    }

    async fn send(&self, kind: Kind) -> Result<(), Closed> {
        let message = pb::WatchDeploymentsResponse { kind: Some(kind) };
        self.sender.send(Ok(message)).await.map_err(|_| Closed)
    }

    async fn fail(&self, status: Status) -> Closed {
        let _ = self.sender.send(Err(status)).await;
        Closed
    }
}

/// Every deployment of `group`, page after page. Read from the store directly: the group was
/// found when the stream opened and groups are never deleted, so each read need not look it up
/// again as ListDeployments does.
async fn read(
    resources: &Resources,
    group: &GroupName,
    show_dropped: bool,
) -> Result<Vec<Deployment>, Status> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let query = DeploymentQuery {
            group: group.clone(),
            state: None,
            scope: None,
            show_dropped,
            page: PageRequest { after, limit: PAGE },
        };
        let page = resources
            .store()
            .list_deployments(&query)
            .await
            .map_err(DeploymentError::from)?;
        let full = page.len() as u64 == PAGE;
        after = page.last().map(|deployment| deployment.name.to_string());
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}
