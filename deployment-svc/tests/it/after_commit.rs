//! A Deploy from draft is one write transaction (counted) and answers once it committed: the
//! runner is asked nothing before (the books' required parameters come from what deployment-svc
//! remembers of them), and the job is started after the answer, from the recorded operation
//! (issue 19).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use eyrie_deployment_svc::{DeploymentSvc, Settings, config::Peers};
use eyrie_platform::{
    ServerSettings,
    testing::{TestServer, test_databases},
};
use eyrie_proto::{
    internal::v1::{
        GetJobOutcomesRequest, GetJobOutcomesResponse, StartJobRequest,
        job_runner_server::{JobRunner, JobRunnerServer},
    },
    v1::{
        self as pb, GetBookRequest, OperationPhaseStatus,
        book_service_server::{BookService, BookServiceServer},
        deployment_service_client::DeploymentServiceClient,
    },
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::{
    harness::as_admin,
    lifecycle::{SHOP, create},
};

/// A book-runner that counts what it is asked and holds every StartJob until the test opens
/// its gate.
#[derive(Clone)]
struct GatedRunner {
    book_reads: Arc<AtomicUsize>,
    starts_asked: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl BookService for GatedRunner {
    async fn get_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<pb::Book>, Status> {
        self.book_reads.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(pb::Book {
            name: request.into_inner().name,
            r#type: pb::DeploymentType::None.into(),
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl JobRunner for GatedRunner {
    async fn start_job(
        &self,
        request: Request<StartJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        self.starts_asked.fetch_add(1, Ordering::SeqCst);
        let mut gate = self.gate.clone();
        gate.wait_for(|open| *open)
            .await
            .map_err(|_| Status::unavailable("closing"))?;
        let request = request.into_inner();
        let deployment = request
            .snapshot
            .and_then(|s| s.deployment)
            .unwrap_or_default();
        Ok(Response::new(pb::Job {
            name: format!("{}/jobs/first", deployment.name),
            operation: request.operation,
            status: pb::JobStatus::Running.into(),
            ..Default::default()
        }))
    }

    async fn get_job_outcomes(
        &self,
        _request: Request<GetJobOutcomesRequest>,
    ) -> Result<Response<GetJobOutcomesResponse>, Status> {
        Ok(Response::new(GetJobOutcomesResponse::default()))
    }
}

/// Serves `runner` on a free loopback port; returns its URL.
async fn serve(runner: GatedRunner) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BookServiceServer::new(runner.clone()))
            .add_service(JobRunnerServer::new(runner))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    format!("http://{address}")
}

#[tokio::test]
async fn a_deploy_answers_after_its_commit_without_asking_the_runner_and_its_job_starts_after() {
    for settings in test_databases() {
        let backend = eyrie_platform::testing::describe(&settings);
        let (open, gate) = watch::channel(false);
        let runner = GatedRunner {
            book_reads: Arc::default(),
            starts_asked: Arc::default(),
            gate,
        };
        let url = serve(runner.clone()).await;
        let root = tempfile::tempdir().unwrap();
        let service = TestServer::start::<DeploymentSvc>(Settings {
            server: ServerSettings::loopback_any_port(),
            database: settings,
            peers: Peers {
                book_runner: Some(url),
                version: None,
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let mut client = DeploymentServiceClient::new(service.channel().await.unwrap());
        // Creating the group read its four books, as it checks them.
        create(&mut client, root.path()).await;
        let reads_before = runner.book_reads.load(Ordering::SeqCst);
        let transactions_before = eyrie_platform::db::write_transactions_begun();

        let deploy = client.deploy_deployment(as_admin(pb::DeployDeploymentRequest {
            name: SHOP.into(),
            ..Default::default()
        }));
        // The runner holds every StartJob: a Deploy that waited for one would never answer.
        let accepted = tokio::time::timeout(Duration::from_secs(30), deploy)
            .await
            .unwrap_or_else(|_| panic!("{backend}: the Deploy waited for the runner"))
            .unwrap()
            .into_inner();

        assert_eq!(
            runner.book_reads.load(Ordering::SeqCst),
            reads_before,
            "{backend}: the Deploy read books from the runner"
        );
        // Nothing else writes meanwhile: the starter waits on the runner's gate.
        assert_eq!(
            eyrie_platform::db::write_transactions_begun() - transactions_before,
            1,
            "{backend}: a Deploy from draft is one transaction"
        );
        assert!(accepted.jobs.is_empty(), "{backend}: {accepted:?}");
        assert_eq!(
            accepted
                .phases
                .iter()
                .map(|phase| (phase.phase(), phase.status()))
                .collect::<Vec<_>>(),
            [
                (pb::BookPhase::Initialize, OperationPhaseStatus::Starting),
                (pb::BookPhase::Deploy, OperationPhaseStatus::Pending),
            ],
            "{backend}"
        );
        // Committed: anyone reads it, and the deployment is initializing.
        let read = client
            .get_operation(as_admin(pb::GetOperationRequest {
                name: accepted.name.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, accepted, "{backend}");
        let shop = crate::harness::get(&mut client, SHOP).await;
        assert_eq!(shop.state(), pb::DeploymentState::Initialize, "{backend}");

        // The starter asks for the job after the answer, and records it once the runner gives it.
        open.send_replace(true);
        let started = async {
            loop {
                let operation = client
                    .get_operation(as_admin(pb::GetOperationRequest {
                        name: accepted.name.clone(),
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                if !operation.jobs.is_empty() {
                    return operation;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let started = tokio::time::timeout(Duration::from_secs(30), started)
            .await
            .unwrap_or_else(|_| panic!("{backend}: the job was never recorded"));
        assert_eq!(started.jobs, [format!("{SHOP}/jobs/first")], "{backend}");
        assert_eq!(
            started.phases[0].status(),
            OperationPhaseStatus::Running,
            "{backend}"
        );
        assert!(runner.starts_asked.load(Ordering::SeqCst) >= 1, "{backend}");
    }
}
