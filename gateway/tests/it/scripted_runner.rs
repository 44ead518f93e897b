//! A stand-in for book-runner-svc's JobService: one job whose events the test publishes, and a
//! count of the WatchJob streams opened on it — what the runner would see of the gateway.

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use eyrie_proto::v1::{
    self as pb,
    job_event::{JobEnded, Kind, StepLog},
    job_service_server::{JobService, JobServiceServer},
};
use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// The job the scripted runner knows.
pub const JOB: &str =
    "projects/acme/groups/web/deployments/shop/jobs/0190f5d2c1a87c3e9d4b6a2f1e0d3c4b";

/// The job's events and the streams opened on it.
#[derive(Clone, Default)]
pub struct ScriptedRunner {
    events: Arc<Mutex<Vec<pb::JobEvent>>>,
    published: Arc<watch::Sender<usize>>,
    watch_calls: Arc<AtomicUsize>,
}

impl ScriptedRunner {
    /// Serves the runner on a free loopback port; returns its URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = JobServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{address}")
    }

    /// Publishes a log line of `size` bytes as the next event.
    pub fn log(&self, size: usize) {
        let sequence = self.events.lock().unwrap().len() + 1;
        self.publish(Kind::StepLog(StepLog {
            step_index: 0,
            attempt: 1,
            line: format!("line {sequence:>6} {}", "x".repeat(size)),
        }));
    }

    /// Publishes the job's final event.
    pub fn end(&self) {
        self.publish(Kind::JobEnded(JobEnded {
            status: pb::JobStatus::Succeeded.into(),
            message: String::new(),
        }));
    }

    fn publish(&self, kind: Kind) {
        let mut events = self.events.lock().unwrap();
        let sequence = events.len() as u64 + 1;
        events.push(pb::JobEvent {
            job: JOB.into(),
            sequence,
            time: None,
            kind: Some(kind),
        });
        let count = events.len();
        drop(events);
        self.published.send_replace(count);
    }

    /// Every event published so far.
    pub fn events(&self) -> Vec<pb::JobEvent> {
        self.events.lock().unwrap().clone()
    }

    /// WatchJob calls received.
    pub fn watch_calls(&self) -> usize {
        self.watch_calls.load(Ordering::SeqCst)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchJobResponse, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for ScriptedRunner {
    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let request = request.into_inner();
        if request.name != JOB {
            return Err(Status::not_found(format!("{} not found", request.name)));
        }
        self.watch_calls.fetch_add(1, Ordering::SeqCst);
        let events = self.events.clone();
        let published = self.published.subscribe();
        let stream = futures::stream::unfold(
            (request.after_sequence as usize, published, false),
            move |(sent, mut published, done)| {
                let events = events.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        let next = events.lock().unwrap().get(sent).cloned();
                        if let Some(event) = next {
                            let ended = matches!(event.kind, Some(Kind::JobEnded(_)));
                            let message = pb::WatchJobResponse {
                                kind: Some(pb::watch_job_response::Kind::Event(event)),
                            };
                            return Some((Ok(message), (sent + 1, published, ended)));
                        }
                        if published.changed().await.is_err() {
                            return None;
                        }
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}
