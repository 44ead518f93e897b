//! A stand-in for deployment-svc's WatchDeployments and WatchOperation: one group whose
//! deployments the test changes, one operation it moves on, and a count of the streams opened.

use std::{
    collections::BTreeMap,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use eyrie_proto::v1::{
    self as pb,
    deployment_service_server::{DeploymentService, DeploymentServiceServer},
    watch_deployments_response::{InitialStateComplete, Kind},
};
use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// The group the scripted service knows.
pub const GROUP: &str = "projects/acme/groups/web";

/// The group's deployments and every change made to them.
#[derive(Clone, Default)]
pub struct ScriptedDeployments {
    changes: Arc<Mutex<Vec<pb::Deployment>>>,
    changed: Arc<watch::Sender<usize>>,
    watch_calls: Arc<AtomicUsize>,
    /// The forms of [`OPERATION`], oldest first.
    operation: Arc<watch::Sender<Vec<pb::Operation>>>,
    operation_watch_calls: Arc<AtomicUsize>,
}

/// The operation the scripted service knows.
pub const OPERATION: &str = "projects/acme/groups/web/deployments/shop/operations/1";

impl ScriptedDeployments {
    /// Serves it on a free loopback port; returns its URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(DeploymentServiceServer::new(self.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{address}")
    }

    /// Sets deployment `slug` to `image`.
    pub fn set(&self, slug: &str, image: &str) {
        let mut changes = self.changes.lock().unwrap();
        changes.push(pb::Deployment {
            name: format!("{GROUP}/deployments/{slug}"),
            image: image.into(),
            state: pb::DeploymentState::Deploy.into(),
            ..Default::default()
        });
        let count = changes.len();
        drop(changes);
        self.changed.send_replace(count);
    }

    /// The latest state of every deployment, by name.
    pub fn latest(&self) -> BTreeMap<String, String> {
        self.changes
            .lock()
            .unwrap()
            .iter()
            .map(|d| (d.name.clone(), d.image.clone()))
            .collect()
    }

    /// WatchDeployments calls received.
    pub fn watch_calls(&self) -> usize {
        self.watch_calls.load(Ordering::SeqCst)
    }

    /// Moves [`OPERATION`] on: its jobs are now `jobs`, its status `status`.
    pub fn move_operation(&self, jobs: &[&str], status: pb::OperationStatus) {
        let form = pb::Operation {
            name: OPERATION.into(),
            jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
            status: status.into(),
            ..Default::default()
        };
        self.operation.send_modify(|forms| forms.push(form));
    }

    /// WatchOperation calls received.
    pub fn operation_watch_calls(&self) -> usize {
        self.operation_watch_calls.load(Ordering::SeqCst)
    }
}

type Forms = Pin<Box<dyn Stream<Item = Result<pb::WatchOperationResponse, Status>> + Send>>;

type Updates = Pin<Box<dyn Stream<Item = Result<pb::WatchDeploymentsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DeploymentService for ScriptedDeployments {
    /// The operation's latest form, then each new one, ending after the first that ended.
    async fn watch_operation(
        &self,
        request: Request<pb::WatchOperationRequest>,
    ) -> Result<Response<Forms>, Status> {
        if request.get_ref().name != OPERATION {
            return Err(Status::not_found(request.into_inner().name));
        }
        self.operation_watch_calls.fetch_add(1, Ordering::SeqCst);
        let forms = self.operation.subscribe();
        let sent = forms.borrow().len().saturating_sub(1);
        let stream = futures::stream::unfold(
            (sent, forms, false),
            |(sent, mut forms, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    let next = forms.borrow_and_update().get(sent).cloned();
                    if let Some(operation) = next {
                        let ended = operation.status() != pb::OperationStatus::Running;
                        let message = pb::WatchOperationResponse {
                            kind: Some(pb::watch_operation_response::Kind::Operation(operation)),
                        };
                        return Some((Ok(message), (sent + 1, forms, ended)));
                    }
                    forms.changed().await.ok()?;
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn watch_deployments(
        &self,
        request: Request<pb::WatchDeploymentsRequest>,
    ) -> Result<Response<Updates>, Status> {
        if request.get_ref().parent != GROUP {
            return Err(Status::not_found(request.into_inner().parent));
        }
        self.watch_calls.fetch_add(1, Ordering::SeqCst);
        // The current state of each deployment, the marker, then each change as it comes.
        let (initial, sent) = {
            let changes = self.changes.lock().unwrap();
            let latest: BTreeMap<String, pb::Deployment> = changes
                .iter()
                .map(|d| (d.name.clone(), d.clone()))
                .collect();
            (latest.into_values().collect::<Vec<_>>(), changes.len())
        };
        let mut messages: Vec<Result<pb::WatchDeploymentsResponse, Status>> = initial
            .into_iter()
            .map(|d| {
                Ok(pb::WatchDeploymentsResponse {
                    kind: Some(Kind::Deployment(d)),
                })
            })
            .collect();
        messages.push(Ok(pb::WatchDeploymentsResponse {
            kind: Some(Kind::InitialStateComplete(InitialStateComplete {})),
        }));
        let changes = self.changes.clone();
        let live = futures::stream::unfold(
            (sent, self.changed.subscribe()),
            move |(sent, mut changed)| {
                let changes = changes.clone();
                async move {
                    loop {
                        let next = changes.lock().unwrap().get(sent).cloned();
                        if let Some(deployment) = next {
                            let message = pb::WatchDeploymentsResponse {
                                kind: Some(Kind::Deployment(deployment)),
                            };
                            return Some((Ok(message), (sent + 1, changed)));
                        }
                        changed.changed().await.ok()?;
                    }
                }
            },
        );
        use futures::StreamExt as _;
        Ok(Response::new(Box::pin(
            futures::stream::iter(messages).chain(live),
        )))
    }
}
