//! WatchDeployments: the current state of every deployment of a group, then each change (state,
//! last operation, running-job count), with heartbeats while idle.
//!
//! Each stream re-reads its group every [`POLL`]: changes made by any replica show within it.
//! The gateway shares one such stream per group between all its watchers.

use std::{collections::HashMap, sync::Arc, time::Duration};

use eyrie_proto::v1::{self as pb, watch_deployments_response::Kind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, codegen::BoxStream};

use super::{
    convert::{deployment_to_proto, timestamp},
    status::invalid,
};
use crate::{
    domain::{
        DeploymentError,
        names::GroupName,
        resources::{Deployment, DeploymentQuery, PageRequest},
    },
    service::{
        lifecycle::{Lifecycle, operation_to_proto},
        resources::Resources,
    },
};

/// How often a watched group is re-read.
const POLL: Duration = Duration::from_millis(300);
/// Heartbeat period of an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Deployments read per page.
const PAGE: u64 = 500;

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
    tokio::spawn(async move {
        // Revision and running-job count seen last, by deployment: a change of either is sent.
        let mut seen: HashMap<String, (i64, i32)> = HashMap::new();
        let mut initial = true;
        let mut idle = Duration::ZERO;
        loop {
            let deployments = match read(&resources, &group, request.show_dropped).await {
                Ok(deployments) => deployments,
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            };
            let mut sent = false;
            for deployment in deployments {
                let key = deployment.name.to_string();
                let version = (deployment.revision, deployment.running_job_count);
                if seen.get(&key) == Some(&version) {
                    continue;
                }
                seen.insert(key, version);
                let operation = match &deployment.last_operation {
                    Some(name) => lifecycle
                        .operation(name)
                        .await
                        .ok()
                        .map(|op| operation_to_proto(&op)),
                    None => None,
                };
                let message = pb::WatchDeploymentsResponse {
                    kind: Some(Kind::Deployment(deployment_to_proto(
                        &deployment,
                        operation,
                    ))),
                };
                if sender.send(Ok(message)).await.is_err() {
                    return;
                }
                sent = true;
            }
            if initial {
                initial = false;
                let complete = pb::WatchDeploymentsResponse {
                    kind: Some(Kind::InitialStateComplete(
                        pb::watch_deployments_response::InitialStateComplete {},
                    )),
                };
                if sender.send(Ok(complete)).await.is_err() {
                    return;
                }
            }
            idle = if sent { Duration::ZERO } else { idle + POLL };
            if idle >= HEARTBEAT {
                idle = Duration::ZERO;
                let heartbeat = pb::WatchDeploymentsResponse {
                    kind: Some(Kind::Heartbeat(pb::Heartbeat {
                        time: Some(timestamp(chrono::Utc::now())),
                    })),
                };
                if sender.send(Ok(heartbeat)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = sender.closed() => return,
            }
        }
    });
    Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
}

/// Every deployment of `group`, page after page. Read from the store directly: the group was
/// found when the stream opened and groups are never deleted, so each poll need not look it up
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
