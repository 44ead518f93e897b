//! Following jobs and operations to their end.
//!
//! A job is followed through `WatchJob`, which sends the stored history first and then live
//! events; a dropped stream is resumed from the last sequence seen, so nothing is shown twice or
//! missed. An operation is followed job after job through `WatchOperation`, which sends the
//! operation again each time it moves: a Deploy from draft adds its deploy job only once the
//! initialize job succeeded.

use std::time::Duration;

use eyrie_platform::peer_status::PeerFailure;
use eyrie_proto::v1::{
    GetJobRequest, GetOperationRequest, Job, Operation, OperationStatus, WatchJobRequest,
    WatchOperationRequest, WatchOperationResponse, job_event, watch_job_response,
    watch_operation_response,
};
use tonic::{Code, Status};

use super::{connection::Connection, error::CliError, progress::Progress};

/// Streams that break this many times in a row without delivering an event end the watch.
const MAX_RESUMES: u32 = 5;
/// First wait before resuming a broken stream; doubled on each further failure.
const RESUME_BACKOFF: Duration = Duration::from_millis(200);
/// How often the operation is read while waiting for its next job, from a server without
/// `WatchOperation`.
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
            // The connection broke, or the gateway dropped a watcher that fell behind (ABORTED):
            // resume from the last sequence.
            Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => status,
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

/// Follows every job of `operation` until the operation ends; returns it as it ended. The
/// operation's next job and its end come from `WatchOperation`, as they happen.
pub async fn follow_operation(
    connection: &Connection,
    mut operation: Operation,
    progress: &mut dyn Progress,
) -> Result<Operation, CliError> {
    progress.operation(&operation);
    let mut forms = OperationForms::new(connection, &operation.name);
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
        } else if !waiting {
            progress.waiting("waiting for the operation's next job");
            waiting = true;
        }
        // Each form is the whole operation; the ones sent while a job was followed are read in
        // order until one shows something new.
        if operation.jobs.len() <= followed && operation.status() == OperationStatus::Running {
            operation = forms.next().await?;
        }
    }
}

/// The forms of one operation, from its `WatchOperation` stream, reopened where it broke.
struct OperationForms<'a> {
    connection: &'a Connection,
    name: String,
    stream: Option<tonic::Streaming<WatchOperationResponse>>,
    /// Breaks in a row without a form.
    failures: u32,
    /// The server has no WatchOperation (an older one): the operation is read every
    /// [`OPERATION_POLL`] instead.
    polling: bool,
}

impl<'a> OperationForms<'a> {
    fn new(connection: &'a Connection, name: &str) -> Self {
        Self {
            connection,
            name: name.to_owned(),
            stream: None,
            failures: 0,
            polling: false,
        }
    }

    /// The next form of the operation.
    async fn next(&mut self) -> Result<Operation, CliError> {
        loop {
            if self.polling {
                tokio::time::sleep(OPERATION_POLL).await;
                let get = GetOperationRequest {
                    name: self.name.clone(),
                };
                return Ok(self
                    .connection
                    .deployments()
                    .get_operation(get)
                    .await?
                    .into_inner());
            }
            let broken = match self.read().await {
                Ok(Some(operation)) => {
                    self.failures = 0;
                    return Ok(operation);
                }
                Ok(None) => Status::unavailable(format!("the stream of {} ended early", self.name)),
                Err(status) if status.code() == Code::Unimplemented => {
                    self.polling = true;
                    continue;
                }
                Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => status,
                Err(status) => return Err(status.into()),
            };
            self.stream = None;
            self.failures += 1;
            if self.failures > MAX_RESUMES {
                return Err(broken.into());
            }
            tokio::time::sleep(RESUME_BACKOFF * 2u32.pow(self.failures - 1)).await;
        }
    }

    /// The next operation on the stream, opened if needed; `None` when it ended.
    async fn read(&mut self) -> Result<Option<Operation>, Status> {
        if self.stream.is_none() {
            let request = WatchOperationRequest {
                name: self.name.clone(),
            };
            let opened = self
                .connection
                .deployments()
                .watch_operation(request)
                .await?;
            self.stream = Some(opened.into_inner());
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        while let Some(message) = stream.message().await? {
            if let Some(watch_operation_response::Kind::Operation(operation)) = message.kind {
                return Ok(Some(operation));
            }
            // heartbeats only say the stream is alive
        }
        Ok(None)
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
        /// Serves WatchOperation (otherwise UNIMPLEMENTED, as an older server would).
        streams_operations: bool,
        operation_watches: Mutex<u32>,
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

    fn operation(jobs: &[&str], status: OperationStatus) -> Operation {
        Operation {
            name: OPERATION.into(),
            jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
            status: status.into(),
            ..Default::default()
        }
    }

    type OperationStream =
        Pin<Box<dyn Stream<Item = Result<WatchOperationResponse, Status>> + Send>>;

    #[tonic::async_trait]
    impl DeploymentService for Fake {
        /// The first stream sends the operation with job A and breaks; the next sends it with
        /// job A, a heartbeat, then with both jobs, ended, and ends.
        async fn watch_operation(
            &self,
            _request: Request<WatchOperationRequest>,
        ) -> Result<Response<OperationStream>, Status> {
            if !self.streams_operations {
                return Err(Status::unimplemented("WatchOperation"));
            }
            let first = {
                let mut watches = self.operation_watches.lock().unwrap();
                *watches += 1;
                *watches == 1
            };
            let form = |operation| {
                Ok(WatchOperationResponse {
                    kind: Some(watch_operation_response::Kind::Operation(operation)),
                })
            };
            let running = form(operation(&[JOB_A], OperationStatus::Running));
            let messages = if first {
                vec![running, Err(Status::unavailable("connection reset"))]
            } else {
                let heartbeat = Ok(WatchOperationResponse {
                    kind: Some(watch_operation_response::Kind::Heartbeat(
                        v1::Heartbeat::default(),
                    )),
                });
                let ended = form(operation(&[JOB_A, JOB_B], OperationStatus::Succeeded));
                vec![running, heartbeat, ended]
            };
            Ok(Response::new(Box::pin(futures::stream::iter(messages))))
        }

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

    /// What following the operation of job A then job B shows.
    fn followed_a_then_b() -> Vec<String> {
        let mut expected = vec!["operation Running".to_owned(), "job a".to_owned()];
        expected.extend((1..=5).map(|sequence| format!("event a {sequence}")));
        expected.extend(["waiting".to_owned(), "job b".to_owned()]);
        expected.extend((1..=5).map(|sequence| format!("event b {sequence}")));
        expected.push("operation Succeeded".to_owned());
        expected
    }

    #[tokio::test]
    async fn an_operation_is_followed_through_its_stream_which_resumes_when_it_breaks() {
        let fake = Arc::new(Fake {
            streams_operations: true,
            ..Fake::default()
        });
        let connection = serve(fake.clone()).await;
        let mut recorder = Recorder::default();

        let accepted = operation(&[JOB_A], OperationStatus::Running);
        let ended = follow_operation(&connection, accepted, &mut recorder)
            .await
            .unwrap();

        assert_eq!(ended.status(), OperationStatus::Succeeded);
        assert_eq!(recorder.0, followed_a_then_b());
        assert_eq!(*fake.operation_watches.lock().unwrap(), 2, "reopened once");
        assert_eq!(*fake.operation_reads.lock().unwrap(), 0, "never polled");
    }

    #[tokio::test]
    async fn an_operation_is_followed_job_after_job_and_a_broken_stream_resumes_where_it_broke() {
        // A server without WatchOperation: the operation is read again instead.
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
        assert_eq!(recorder.0, followed_a_then_b());
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
