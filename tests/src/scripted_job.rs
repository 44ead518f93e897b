//! A stand-in for book-runner-svc's JobService: one job whose events the caller publishes, each
//! stamped with the time it was published, and a count of the WatchJob streams opened on it
//! (what the runner sees of a gateway in front of it).

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use eyrie_proto::v1::{
    self as pb,
    job_event::{JobEnded, Kind, StepLog},
    job_service_server::{JobService, JobServiceServer},
};
use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// The one job it knows.
pub const JOB: &str =
    "projects/acme/groups/web/deployments/shop/jobs/0190f5d2c1a87c3e9d4b6a2f1e0d3c4b";

/// The job's events so far, and the streams opened on it.
#[derive(Clone, Default)]
pub struct ScriptedJob {
    events: Arc<Mutex<Vec<pb::JobEvent>>>,
    published: Arc<watch::Sender<usize>>,
    watch_calls: Arc<AtomicUsize>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchJobResponse, Status>> + Send>>;

impl ScriptedJob {
    /// Serves it on a free loopback port; returns its URL.
    pub async fn serve(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(JobServiceServer::new(self.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Ok(format!("http://{address}"))
    }

    /// Publishes a log line of about `size` bytes as the next event.
    pub fn log(&self, size: usize) {
        let sequence = self.events.lock().expect("events").len() + 1;
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
        let mut events = self.events.lock().expect("events");
        let sequence = events.len() as u64 + 1;
        events.push(pb::JobEvent {
            job: JOB.into(),
            sequence,
            time: Some(prost_types::Timestamp::from(SystemTime::now())),
            kind: Some(kind),
        });
        let count = events.len();
        drop(events);
        self.published.send_replace(count);
    }

    /// Every event published so far.
    pub fn events(&self) -> Vec<pb::JobEvent> {
        self.events.lock().expect("events").clone()
    }

    /// WatchJob calls received for the job.
    pub fn watch_calls(&self) -> usize {
        self.watch_calls.load(Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl JobService for ScriptedJob {
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
        let after = usize::try_from(request.after_sequence).unwrap_or(usize::MAX);
        // History after `after_sequence`, then live events, until the final one.
        let stream = futures::stream::unfold(
            (after, published, false),
            move |(sent, mut published, done)| {
                let events = events.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        let next = events.lock().expect("events").get(sent).cloned();
                        if let Some(event) = next {
                            let ended = matches!(event.kind, Some(Kind::JobEnded(_)));
                            let message = pb::WatchJobResponse {
                                kind: Some(pb::watch_job_response::Kind::Event(event)),
                            };
                            return Some((Ok(message), (sent + 1, published, ended)));
                        }
                        published.changed().await.ok()?;
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}
