//! Job outcomes reach deployment-svc as stored: retried until acknowledged, and still delivered
//! when the runner restarts in between.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use eyrie_book_runner_svc::{
    BookRunnerSvc, Settings,
    config::{Peers, RunnerSettings},
    store::jobs::SeaJobStore,
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{ClosedPort, TestServer},
};
use eyrie_proto::internal::v1::{
    JobOutcome, ReportJobOutcomeRequest, ReportJobOutcomeResponse,
    deployment_callbacks_server::{DeploymentCallbacks, DeploymentCallbacksServer},
    job_runner_client::JobRunnerClient,
};
use eyrie_proto::v1::JobStatus;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::harness::start_request;

/// A stand-in for deployment-svc that refuses the first `refuse` reports, then records them.
#[derive(Clone, Default)]
struct FakeDeployments {
    refuse: Arc<Mutex<u32>>,
    calls: Arc<Mutex<u32>>,
    received: Arc<Mutex<Vec<JobOutcome>>>,
}

#[tonic::async_trait]
impl DeploymentCallbacks for FakeDeployments {
    async fn report_job_outcome(
        &self,
        request: Request<ReportJobOutcomeRequest>,
    ) -> Result<Response<ReportJobOutcomeResponse>, Status> {
        *self.calls.lock().unwrap() += 1;
        let mut refuse = self.refuse.lock().unwrap();
        if *refuse > 0 {
            *refuse -= 1;
            return Err(Status::unavailable("deployment-svc is restarting"));
        }
        self.received
            .lock()
            .unwrap()
            .push(request.into_inner().outcome.unwrap());
        Ok(Response::new(ReportJobOutcomeResponse {}))
    }
}

async fn serve(fake: FakeDeployments) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeploymentCallbacksServer::new(fake))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    format!("http://{address}")
}

fn settings(database: DatabaseSettings, root: &std::path::Path, deployments: &str) -> Settings {
    Settings {
        server: ServerSettings::loopback_any_port(),
        database,
        runner: RunnerSettings {
            lease_ttl: Duration::from_secs(2),
            poll_interval: Duration::from_millis(100),
            directory_root: root.to_path_buf(),
            ..RunnerSettings::default()
        },
        peers: Peers {
            deployment: Some(deployments.to_owned()),
        },
        ..Settings::default()
    }
}

/// Waits (bounded) until `fake` received an outcome of each of `jobs`.
async fn received_for(fake: &FakeDeployments, jobs: &[&str]) -> Vec<JobOutcome> {
    for _ in 0..300 {
        let outcomes = fake.received.lock().unwrap().clone();
        if jobs
            .iter()
            .all(|job| outcomes.iter().any(|o| o.job == *job))
        {
            return outcomes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deployment-svc did not receive an outcome of each of {jobs:?}")
}

const BOOK: &str = "books/none-initialize";

#[tokio::test]
async fn outcomes_are_retried_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let database = DatabaseSettings::with_url(format!(
        "sqlite://{}/runner.sqlite?mode=rwc",
        dir.path().display()
    ));
    let fake = FakeDeployments::default();
    *fake.refuse.lock().unwrap() = 2;
    let address = serve(fake.clone()).await;
    let server = TestServer::start::<BookRunnerSvc>(settings(database, dir.path(), &address))
        .await
        .unwrap();
    let mut runner = JobRunnerClient::new(server.channel().await.unwrap());

    let mut request = start_request(BOOK, "report-1", "none", &[]);
    request.phase = eyrie_proto::v1::BookPhase::Initialize.into();
    let job = runner.start_job(request).await.unwrap().into_inner();

    let outcomes = received_for(&fake, &[&job.name]).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].job, job.name);
    assert_eq!(outcomes[0].operation, job.operation);
    assert_eq!(outcomes[0].status(), JobStatus::Succeeded);
    assert_eq!(
        *fake.calls.lock().unwrap(),
        3,
        "two refusals, then the acknowledged delivery"
    );
}

#[tokio::test]
async fn an_outcome_owed_before_a_restart_is_delivered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = DatabaseSettings::with_url(format!(
        "sqlite://{}/runner.sqlite?mode=rwc",
        dir.path().display()
    ));
    // deployment-svc is down while the job runs: nothing listens at this address yet.
    let parked = ClosedPort::hold().unwrap();
    let address = parked.address;
    let first = TestServer::start::<BookRunnerSvc>(settings(
        database.clone(),
        dir.path(),
        &format!("http://{address}"),
    ))
    .await
    .unwrap();
    let mut runner = JobRunnerClient::new(first.channel().await.unwrap());
    let mut request = start_request(BOOK, "report-2", "none", &[]);
    request.phase = eyrie_proto::v1::BookPhase::Initialize.into();
    let job = runner.start_job(request).await.unwrap().into_inner();
    let mut jobs =
        eyrie_proto::v1::job_service_client::JobServiceClient::new(first.channel().await.unwrap());
    crate::harness::collect_events(jobs.clone(), &job.name, 0).await;
    let ended = jobs
        .get_job(eyrie_proto::v1::GetJobRequest {
            name: job.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.status(), JobStatus::Succeeded);
    first.stop().await.unwrap();

    // deployment-svc comes up where the runner expects it; a restarted runner reports.
    let fake = FakeDeployments::default();
    let listener = parked.listen().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeploymentCallbacksServer::new(fake.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let _second = TestServer::start::<BookRunnerSvc>(settings(
        database,
        dir.path(),
        &format!("http://{address}"),
    ))
    .await
    .unwrap();
    let outcomes = received_for(&fake, &[&job.name]).await;
    assert_eq!(outcomes[0].job, job.name);
}

/// A worker hands its job's outcome to the reporter as it ends it, instead of the reporter
/// reading it back: what deployment-svc receives is what the table holds, to the microsecond,
/// for a job that succeeded and for one that failed.
#[tokio::test]
async fn the_outcome_delivered_is_the_one_stored() {
    let dir = tempfile::tempdir().unwrap();
    let databases = crate::harness::databases(&dir);
    for database in databases {
        let backend = eyrie_platform::testing::describe(&database);
        let fake = FakeDeployments::default();
        let address = serve(fake.clone()).await;
        let server =
            TestServer::start::<BookRunnerSvc>(settings(database.clone(), dir.path(), &address))
                .await
                .unwrap();
        let mut runner = JobRunnerClient::new(server.channel().await.unwrap());
        let mut succeeding = start_request(BOOK, "stored-1", "none", &[]);
        succeeding.phase = eyrie_proto::v1::BookPhase::Initialize.into();
        let succeeded = runner.start_job(succeeding).await.unwrap().into_inner();
        // A directory cluster without a path: no driver can be had for it, the job fails.
        let mut failing = start_request(BOOK, "stored-2", "none", &[]);
        failing.phase = eyrie_proto::v1::BookPhase::Initialize.into();
        failing.snapshot = Some(eyrie_platform::testing::sample_deployment_snapshot(
            "none",
            "",
            &[],
        ));
        let failed = runner.start_job(failing).await.unwrap().into_inner();

        let outcomes = received_for(&fake, &[&succeeded.name, &failed.name]).await;
        let store = SeaJobStore::new(eyrie_platform::db::connect(&database).await.unwrap());
        for job in [&succeeded, &failed] {
            let id = job.name.rsplit('/').next().unwrap().to_owned();
            let stored = store.outcomes(&[id]).await.unwrap();
            let expected = eyrie_book_runner_svc::grpc::convert::job::outcome(&stored[0]);
            // Delivered once, as a rule; twice if the reporter's look at the table fell between
            // the job's commit and its hand-over, which deployment-svc takes as a no-op.
            let delivered: Vec<_> = outcomes.iter().filter(|o| o.job == job.name).collect();
            assert!(!delivered.is_empty(), "{backend}: {}", job.name);
            for outcome in delivered {
                assert_eq!(*outcome, expected, "{backend}");
            }
        }
        let failure = outcomes.iter().find(|o| o.job == failed.name).unwrap();
        assert_eq!(failure.status(), JobStatus::Failed, "{backend}");
        assert!(!failure.message.is_empty(), "{backend}");
        server.stop().await.unwrap();
    }
}
