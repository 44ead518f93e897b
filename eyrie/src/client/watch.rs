//! Following jobs and operations to their end.
//!
//! A job is followed through `WatchJob`, which sends the stored history first and then live
//! events; a dropped stream is resumed from the last sequence seen, so nothing is shown twice or
//! missed. An operation is followed job after job: a Deploy from draft adds its deploy job only once
//! the initialize job succeeded, so the operation is read again after each job.

use std::time::Duration;

use eyrie_proto::v1::{
    GetJobRequest, GetOperationRequest, Job, Operation, OperationStatus, WatchJobRequest,
    job_event, watch_job_response,
};
use tonic::{Code, Status};

use super::{connection::Connection, error::CliError, progress::Progress};

/// Streams that break this many times in a row without delivering an event end the watch.
const MAX_RESUMES: u32 = 5;
/// First wait before resuming a broken stream; doubled on each further failure.
const RESUME_BACKOFF: Duration = Duration::from_millis(200);
/// How often the operation is read while waiting for its next job.
const OPERATION_POLL: Duration = Duration::from_millis(250);

/// Follows `job` from its first event to its last; returns the job as it ended.
pub async fn follow_job(
    connection: &Connection,
    job: &str,
    progress: &mut dyn Progress,
) -> Result<Job, CliError> {
    let mut jobs = connection.jobs();
    let get = GetJobRequest {
        name: job.to_owned(),
    };
    let started = jobs.get_job(get.clone()).await?.into_inner();
    progress.job(&started);

    let mut last_sequence = 0;
    let mut failures = 0;
    loop {
        let before = last_sequence;
        let outcome = stream_events(connection, job, &mut last_sequence, progress).await;
        if last_sequence > before {
            failures = 0;
        }
        let broken = match outcome {
            Ok(StreamEnd::JobEnded) => break,
            // A stream that ends without the job's last event: the job may have ended before we
            // asked (nothing left to send); otherwise resume.
            Ok(StreamEnd::Closed) => {
                let current = jobs.get_job(get.clone()).await?.into_inner();
                if current.end_time.is_some() && current.last_sequence <= last_sequence {
                    return Ok(current);
                }
                Status::unavailable(format!("the event stream of {job} ended early"))
            }
            Err(status) if resumable(&status) => status,
            Err(status) => return Err(status.into()),
        };
        failures += 1;
        if failures > MAX_RESUMES {
            return Err(broken.into());
        }
        tokio::time::sleep(RESUME_BACKOFF * 2u32.pow(failures - 1)).await;
    }
    Ok(jobs.get_job(get).await?.into_inner())
}

enum StreamEnd {
    JobEnded,
    Closed,
}

/// Reads one WatchJob stream after `last_sequence`, passing each new event to `progress`.
async fn stream_events(
    connection: &Connection,
    job: &str,
    last_sequence: &mut u64,
    progress: &mut dyn Progress,
) -> Result<StreamEnd, Status> {
    let mut stream = connection
        .jobs()
        .watch_job(WatchJobRequest {
            name: job.to_owned(),
            after_sequence: *last_sequence,
        })
        .await?
        .into_inner();
    while let Some(message) = stream.message().await? {
        let Some(watch_job_response::Kind::Event(event)) = message.kind else {
            continue; // heartbeats only say the stream is alive
        };
        if event.sequence <= *last_sequence {
            continue;
        }
        *last_sequence = event.sequence;
        progress.event(&event);
        if matches!(event.kind, Some(job_event::Kind::JobEnded(_))) {
            return Ok(StreamEnd::JobEnded);
        }
    }
    Ok(StreamEnd::Closed)
}

/// Errors after which the stream is worth opening again: the connection broke, or the gateway
/// dropped a watcher that fell behind (ABORTED, resume from the last sequence).
fn resumable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Aborted | Code::Unknown | Code::Cancelled
    )
}

/// Follows every job of `operation` until the operation ends; returns it as it ended.
pub async fn follow_operation(
    connection: &Connection,
    mut operation: Operation,
    progress: &mut dyn Progress,
) -> Result<Operation, CliError> {
    let mut deployments = connection.deployments();
    let get = GetOperationRequest {
        name: operation.name.clone(),
    };
    progress.operation(&operation);
    let mut followed = 0;
    let mut waiting = false;
    loop {
        if let Some(job) = operation.jobs.get(followed) {
            follow_job(connection, &job.clone(), progress).await?;
            followed += 1;
            waiting = false;
        } else if operation.status() != OperationStatus::Running {
            progress.operation(&operation);
            return Ok(operation);
        } else {
            if !waiting {
                progress.waiting("waiting for the operation's next job");
                waiting = true;
            }
            tokio::time::sleep(OPERATION_POLL).await;
        }
        operation = deployments.get_operation(get.clone()).await?.into_inner();
    }
}

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        sync::{Arc, Mutex},
    };

    use eyrie_proto::v1::{
        self, JobEvent, JobStep, WatchJobResponse,
        deployment_service_server::{DeploymentService, DeploymentServiceServer},
        job_service_server::{JobService, JobServiceServer},
    };
    use futures::Stream;
    use tonic::{Request, Response, transport::server::TcpIncoming};

    use super::*;

    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchJobResponse, Status>> + Send>>;

    const JOB_A: &str = "projects/a/groups/g/deployments/d/jobs/a";
    const JOB_B: &str = "projects/a/groups/g/deployments/d/jobs/b";
    const OPERATION: &str = "projects/a/groups/g/deployments/d/operations/1";

    /// A job's five events: queued, started, step started, step succeeded, ended.
    fn events(job: &str) -> Vec<JobEvent> {
        let kinds = [
            job_event::Kind::JobQueued(job_event::JobQueued {}),
            job_event::Kind::JobStarted(job_event::JobStarted { takeover: false }),
            job_event::Kind::StepStarted(job_event::StepStarted {
                step_index: 0,
                attempt: 1,
            }),
            job_event::Kind::StepSucceeded(job_event::StepSucceeded { step_index: 0 }),
            job_event::Kind::JobEnded(job_event::JobEnded {
                status: v1::JobStatus::Succeeded.into(),
                message: String::new(),
            }),
        ];
        kinds
            .into_iter()
            .zip(1..)
            .map(|(kind, sequence)| JobEvent {
                job: job.to_owned(),
                sequence,
                time: None,
                kind: Some(kind),
            })
            .collect()
    }

    /// A server whose first WatchJob stream of job A breaks after three events, and whose
    /// operation lists job B only from its third read on.
    #[derive(Default)]
    struct Fake {
        watch_requests: Mutex<Vec<(String, u64)>>,
        operation_reads: Mutex<u32>,
    }

    #[tonic::async_trait]
    impl JobService for Fake {
        async fn get_job(&self, request: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
            Ok(Response::new(Job {
                name: request.into_inner().name,
                steps: vec![JobStep {
                    name: "Apply".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }))
        }

        async fn watch_job(
            &self,
            request: Request<WatchJobRequest>,
        ) -> Result<Response<WatchStream>, Status> {
            let request = request.into_inner();
            let first_of_a = {
                let mut requests = self.watch_requests.lock().unwrap();
                requests.push((request.name.clone(), request.after_sequence));
                request.name == JOB_A && requests.len() == 1
            };
            let message = |event| {
                Ok(WatchJobResponse {
                    kind: Some(watch_job_response::Kind::Event(event)),
                })
            };
            let mut messages: Vec<_> = events(&request.name)
                .into_iter()
                .filter(|event| event.sequence > request.after_sequence)
                .map(message)
                .collect();
            if first_of_a {
                messages.truncate(3);
                messages.push(Err(Status::unavailable("connection reset")));
            }
            Ok(Response::new(Box::pin(futures::stream::iter(messages))))
        }
    }

    #[tonic::async_trait]
    impl DeploymentService for Fake {
        async fn get_operation(
            &self,
            _request: Request<GetOperationRequest>,
        ) -> Result<Response<Operation>, Status> {
            let reads = {
                let mut reads = self.operation_reads.lock().unwrap();
                *reads += 1;
                *reads
            };
            let (jobs, status) = if reads < 3 {
                (vec![JOB_A.to_owned()], OperationStatus::Running)
            } else {
                (
                    vec![JOB_A.to_owned(), JOB_B.to_owned()],
                    OperationStatus::Succeeded,
                )
            };
            Ok(Response::new(Operation {
                name: OPERATION.into(),
                jobs,
                status: status.into(),
                ..Default::default()
            }))
        }
    }

    /// Writes down what a watch shows.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Progress for Recorder {
        fn operation(&mut self, operation: &Operation) {
            self.0.push(format!("operation {:?}", operation.status()));
        }
        fn job(&mut self, job: &Job) {
            self.0
                .push(format!("job {}", job.name.rsplit('/').next().unwrap()));
        }
        fn event(&mut self, event: &JobEvent) {
            let job = event.job.rsplit('/').next().unwrap();
            self.0.push(format!("event {job} {}", event.sequence));
        }
        fn waiting(&mut self, _what: &str) {
            self.0.push("waiting".into());
        }
        fn finished(&mut self, _job: &Job) {}
    }

    async fn serve(fake: Arc<Fake>) -> Connection {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(JobServiceServer::from_arc(fake.clone()))
                .add_service(DeploymentServiceServer::from_arc(fake))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        Connection::open(
            &format!("http://{address}"),
            Some("token"),
            &Default::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn an_operation_is_followed_job_after_job_and_a_broken_stream_resumes_where_it_broke() {
        let fake = Arc::new(Fake::default());
        let connection = serve(fake.clone()).await;
        let accepted = Operation {
            name: OPERATION.into(),
            jobs: vec![JOB_A.into()],
            status: OperationStatus::Running.into(),
            ..Default::default()
        };
        let mut recorder = Recorder::default();

        let ended = follow_operation(&connection, accepted, &mut recorder)
            .await
            .unwrap();

        assert_eq!(ended.status(), OperationStatus::Succeeded);
        let mut expected = vec!["operation Running".to_owned(), "job a".to_owned()];
        expected.extend((1..=5).map(|sequence| format!("event a {sequence}")));
        expected.extend(["waiting".to_owned(), "job b".to_owned()]);
        expected.extend((1..=5).map(|sequence| format!("event b {sequence}")));
        expected.push("operation Succeeded".to_owned());
        assert_eq!(recorder.0, expected);
        // Job A's stream broke after event 3: it was asked again from there, nothing twice.
        assert_eq!(
            *fake.watch_requests.lock().unwrap(),
            [
                (JOB_A.to_owned(), 0),
                (JOB_A.to_owned(), 3),
                (JOB_B.to_owned(), 0)
            ]
        );
    }
}
