//! RetryJob needs the role of the job's action (issue 15, part 5): a deployer retries deploy and
//! pause jobs, only an admin retries a drop job, and a refused retry never reaches deployment-svc,
//! whose lifecycle decides the others (the runner is asked only for the job).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use eyrie_proto::{
    internal::v1::{
        RetryOperationRequest,
        deployment_callbacks_server::{DeploymentCallbacks, DeploymentCallbacksServer},
    },
    v1::{
        self as pb, OperationAction,
        access_service_client::AccessServiceClient,
        job_service_client::JobServiceClient,
        job_service_server::{JobService, JobServiceServer},
    },
};
use eyrie_tests::auth::with_token;
use tonic::{Code, Request, Response, Status, transport::Channel};

use crate::fixture::Fixture;

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

fn job(id: &str) -> String {
    format!("{SHOP}/jobs/{id}")
}

/// A stand-in for book-runner-svc's JobService (jobs of known actions) and deployment-svc's
/// callbacks (the retries asked of the lifecycle).
#[derive(Clone, Default)]
struct Runner {
    actions: Arc<HashMap<String, OperationAction>>,
    retried: Arc<Mutex<Vec<(String, String)>>>,
}

impl Runner {
    fn with_jobs(jobs: &[(&str, OperationAction)]) -> Self {
        Self {
            actions: Arc::new(jobs.iter().map(|(id, action)| (job(id), *action)).collect()),
            retried: Arc::default(),
        }
    }

    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(JobServiceServer::new(self.clone()))
                .add_service(DeploymentCallbacksServer::new(self.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{address}")
    }

    /// The jobs deployment-svc was asked to retry, each with the actor the gateway named.
    fn retried(&self) -> Vec<(String, String)> {
        self.retried.lock().unwrap().clone()
    }

    fn find(&self, name: &str) -> Result<pb::Job, Status> {
        let action = self
            .actions
            .get(name)
            .ok_or_else(|| Status::not_found(format!("job {name:?} not found")))?;
        Ok(pb::Job {
            name: name.to_owned(),
            deployment: SHOP.into(),
            operation: format!("{SHOP}/operations/of-{}", name.rsplit('/').next().unwrap()),
            action: (*action).into(),
            status: pb::JobStatus::Failed.into(),
            ..Default::default()
        })
    }
}

#[tonic::async_trait]
impl JobService for Runner {
    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        self.find(&request.into_inner().name).map(Response::new)
    }
}

#[tonic::async_trait]
impl DeploymentCallbacks for Runner {
    async fn retry_operation(
        &self,
        request: Request<RetryOperationRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let request = request.into_inner();
        let retried = self.find(&request.job)?;
        assert_eq!(
            request.operation, retried.operation,
            "the job's own operation"
        );
        self.retried
            .lock()
            .unwrap()
            .push((retried.name.clone(), request.actor));
        Ok(Response::new(pb::Job {
            retry_of: retried.name.clone(),
            ..retried
        }))
    }
}

async fn token(channel: Channel, admin: &str, id: &str, role: pb::Role) -> String {
    AccessServiceClient::new(channel)
        .create_token(with_token(
            admin,
            pb::CreateTokenRequest {
                token_id: id.into(),
                token: Some(pb::Token {
                    display_name: id.into(),
                    role_bindings: vec![pb::RoleBinding {
                        project: "projects/acme".into(),
                        role: role.into(),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .secret
}

async fn retry(channel: Channel, token: &str, name: &str) -> Result<pb::Job, Status> {
    JobServiceClient::new(channel)
        .retry_job(with_token(
            token,
            pb::RetryJobRequest {
                name: name.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_deployer_retries_deploy_and_pause_jobs_but_only_an_admin_retries_a_drop() {
    let runner = Runner::with_jobs(&[
        ("deploy", OperationAction::Deploy),
        ("pause", OperationAction::Pause),
        ("drop", OperationAction::Drop),
    ]);
    let url = runner.serve().await;
    let fixture = Fixture::start(|settings| {
        settings.backends.book_runner = url.clone();
        settings.backends.deployment = url;
    })
    .await;
    let channel = fixture.channel().await;
    let deployer = token(channel.clone(), &fixture.token, "ci", pb::Role::Deployer).await;
    let admin = token(channel.clone(), &fixture.token, "lead", pb::Role::Admin).await;
    let viewer = token(channel.clone(), &fixture.token, "audit", pb::Role::Viewer).await;

    let retried = retry(channel.clone(), &deployer, &job("deploy"))
        .await
        .unwrap();
    assert_eq!(retried.retry_of, job("deploy"));
    retry(channel.clone(), &deployer, &job("pause"))
        .await
        .unwrap();

    let refused = retry(channel.clone(), &deployer, &job("drop"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("DropDeployment")
            && refused.message().contains("admin role on projects/acme"),
        "the refusal says which role the drop needs: {}",
        refused.message()
    );
    let refused = retry(channel.clone(), &viewer, &job("deploy"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let missing = retry(channel.clone(), &deployer, &job("missing"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");

    retry(channel.clone(), &admin, &job("drop")).await.unwrap();
    retry(channel.clone(), &fixture.token, &job("drop"))
        .await
        .unwrap();

    let retried: Vec<(String, String)> = runner.retried();
    let jobs: Vec<&str> = retried.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(
        jobs,
        [job("deploy"), job("pause"), job("drop"), job("drop")],
        "the refused retries never reached deployment-svc"
    );
    assert_eq!(retried[0].1, "tokens/ci", "the retry carries its caller");
    assert_eq!(retried[2].1, "tokens/lead");
}
