//! A JobService publishing one job's events at a set pace, each stamped with the time it was
//! published: what the gateway's fan-out is measured against (B2, B6).

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
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
    "projects/bench/groups/web/deployments/shop/jobs/0190f5d2c1a87c3e9d4b6a2f1e0d3c4b";

/// Events published so far.
#[derive(Clone, Default)]
pub struct Publisher {
    events: Arc<Mutex<Vec<pb::JobEvent>>>,
    published: Arc<watch::Sender<usize>>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchJobResponse, Status>> + Send>>;

impl Publisher {
    /// Serves it on a free loopback port; returns the URL.
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

    /// Publishes a log line now.
    pub fn log(&self) {
        self.publish(Kind::StepLog(StepLog {
            step_index: 0,
            attempt: 1,
            line: "Applied ConfigMap shop-config".into(),
        }));
    }

    /// Publishes the final event.
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
}

#[tonic::async_trait]
impl JobService for Publisher {
    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let request = request.into_inner();
        if request.name != JOB {
            return Err(Status::not_found(request.name));
        }
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
