//! The authorization matrix: every public RPC × every kind of caller, through the gateway.
//!
//! Each request is built so that, once authorized, the service answers it the same way for
//! every caller and changes nothing (a read of a seeded resource, or a write naming a missing
//! or malformed one). A cell then tells exactly whether the gateway let the call through.

use eyrie_proto::v1::{
    self as pb, access_service_client::AccessServiceClient, book_service_client::BookServiceClient,
    deployment_service_client::DeploymentServiceClient, job_service_client::JobServiceClient,
    version_service_client::VersionServiceClient,
};
use eyrie_tests::{Suite, auth::with_token, journey::Gateway};
use futures::future::BoxFuture;
use tonic::{Code, transport::Channel};

const ACME: &str = "projects/acme";
const GROUP: &str = "projects/acme/groups/web";
const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const MISSING: &str = "projects/acme/groups/web/deployments/missing";
/// A job of the shop that does not exist: the job RPCs are authorized, then answer NOT_FOUND.
const MISSING_JOB: &str =
    "projects/acme/groups/web/deployments/shop/jobs/0190f5d2c1a87c3e9d4b6a2f1e0d3c4b";

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Viewer,
    Deployer,
    AdminOfAnotherProject,
    Admin,
    GlobalAdmin,
}

const CALLERS: [Caller; 6] = [
    Caller::NoToken,
    Caller::Viewer,
    Caller::Deployer,
    Caller::AdminOfAnotherProject,
    Caller::Admin,
    Caller::GlobalAdmin,
];

/// What an RPC needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    AnyCaller,
    Viewer,
    Deployer,
    /// Deployer on some project, whichever (content the call carries, such as an inline book).
    DeployerSomewhere,
    Admin,
    GlobalAdmin,
}

impl Caller {
    fn may(self, need: Need) -> bool {
        use Caller as C;
        match (self, need) {
            (C::NoToken, _) => false,
            (C::GlobalAdmin, _) | (_, Need::AnyCaller) => true,
            (C::Viewer, Need::DeployerSomewhere) => false,
            (_, Need::DeployerSomewhere) => true,
            (_, Need::GlobalAdmin) | (C::AdminOfAnotherProject, _) => false,
            (C::Admin, _) => true,
            (C::Deployer, need) => matches!(need, Need::Viewer | Need::Deployer),
            (C::Viewer, need) => matches!(need, Need::Viewer),
        }
    }
}

type Call = fn(Channel, Option<String>) -> BoxFuture<'static, Code>;

/// One row: the RPC, what it needs, the code an authorized caller gets, and the call.
struct Row {
    rpc: &'static str,
    need: Need,
    authorized: Code,
    call: Call,
}

fn request<T>(token: Option<&str>, message: T) -> tonic::Request<T> {
    match token {
        Some(token) => with_token(token, message),
        None => tonic::Request::new(message),
    }
}

fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

macro_rules! row {
    ($rpc:literal, $need:ident, $code:ident, $client:ident . $method:ident ( $message:expr )) => {
        Row {
            rpc: $rpc,
            need: Need::$need,
            authorized: Code::$code,
            call: |channel, token| {
                Box::pin(async move {
                    let mut client = $client::new(channel);
                    code(client.$method(request(token.as_deref(), $message)).await)
                })
            },
        }
    };
}

fn rows() -> Vec<Row> {
    use DeploymentServiceClient as D;
    vec![
        row!(
            "CreateProject",
            GlobalAdmin,
            InvalidArgument,
            D.create_project(pb::CreateProjectRequest {
                project_id: "Not A Slug".into(),
                ..Default::default()
            })
        ),
        row!(
            "GetProject",
            Viewer,
            Ok,
            D.get_project(pb::GetProjectRequest { name: ACME.into() })
        ),
        row!(
            "ListProjects",
            AnyCaller,
            Ok,
            D.list_projects(pb::ListProjectsRequest::default())
        ),
        row!(
            "CreateScope",
            Admin,
            InvalidArgument,
            D.create_scope(pb::CreateScopeRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetScope",
            Viewer,
            Ok,
            D.get_scope(pb::GetScopeRequest {
                name: "projects/acme/scopes/dev".into()
            })
        ),
        row!(
            "ListScopes",
            Viewer,
            Ok,
            D.list_scopes(pb::ListScopesRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        // Cluster connections belong to the platform: a project's admins cannot create one
        // (issue 15, part 3).
        row!(
            "CreateCluster",
            GlobalAdmin,
            InvalidArgument,
            D.create_cluster(pb::CreateClusterRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetCluster",
            Viewer,
            Ok,
            D.get_cluster(pb::GetClusterRequest {
                name: "projects/acme/clusters/local".into()
            })
        ),
        row!(
            "ListClusters",
            Viewer,
            Ok,
            D.list_clusters(pb::ListClustersRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "CreateDeploymentGroup",
            Admin,
            InvalidArgument,
            D.create_deployment_group(pb::CreateDeploymentGroupRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetDeploymentGroup",
            Viewer,
            Ok,
            D.get_deployment_group(pb::GetDeploymentGroupRequest { name: GROUP.into() })
        ),
        row!(
            "ListDeploymentGroups",
            Viewer,
            Ok,
            D.list_deployment_groups(pb::ListDeploymentGroupsRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "UpdateDeploymentGroup",
            Admin,
            NotFound,
            D.update_deployment_group(pb::UpdateDeploymentGroupRequest {
                deployment_group: Some(pb::DeploymentGroup {
                    name: "projects/acme/groups/missing".into(),
                    display_name: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()]
                }),
                ..Default::default()
            })
        ),
        row!(
            "CreateDeployment",
            Admin,
            InvalidArgument,
            D.create_deployment(pb::CreateDeploymentRequest {
                parent: GROUP.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetDeployment",
            Viewer,
            Ok,
            D.get_deployment(pb::GetDeploymentRequest { name: SHOP.into() })
        ),
        row!(
            "ListDeployments",
            Viewer,
            Ok,
            D.list_deployments(pb::ListDeploymentsRequest {
                parent: GROUP.into(),
                ..Default::default()
            })
        ),
        row!(
            "UpdateDeployment",
            Deployer,
            NotFound,
            D.update_deployment(pb::UpdateDeploymentRequest {
                deployment: Some(pb::Deployment {
                    name: MISSING.into(),
                    image: "nginx:1.27".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["image".into()]
                }),
                ..Default::default()
            })
        ),
        row!(
            "DeployDeployment",
            Deployer,
            NotFound,
            D.deploy_deployment(pb::DeployDeploymentRequest {
                name: MISSING.into(),
                ..Default::default()
            })
        ),
        row!(
            "PauseDeployment",
            Deployer,
            NotFound,
            D.pause_deployment(pb::PauseDeploymentRequest {
                name: MISSING.into(),
                ..Default::default()
            })
        ),
        row!(
            "DropDeployment",
            Admin,
            NotFound,
            D.drop_deployment(pb::DropDeploymentRequest {
                name: MISSING.into(),
                ..Default::default()
            })
        ),
        row!(
            "ListOperations",
            Viewer,
            Ok,
            D.list_operations(pb::ListOperationsRequest {
                parent: SHOP.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetOperation",
            Viewer,
            NotFound,
            D.get_operation(pb::GetOperationRequest {
                name: format!("{SHOP}/operations/0190f5d2c1a87c3e9d4b6a2f1e0d3c4b")
            })
        ),
        row!(
            "WatchDeployments",
            Viewer,
            Ok,
            D.watch_deployments(pb::WatchDeploymentsRequest {
                parent: GROUP.into(),
                ..Default::default()
            })
        ),
        row!(
            "CreateBook",
            Admin,
            InvalidArgument,
            BookServiceClient.create_book(pb::CreateBookRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetBook",
            Viewer,
            NotFound,
            BookServiceClient.get_book(pb::GetBookRequest {
                name: "projects/acme/books/missing".into()
            })
        ),
        row!(
            "ListBooks",
            Viewer,
            Ok,
            BookServiceClient.list_books(pb::ListBooksRequest {
                parent: ACME.into(),
                ..Default::default()
            })
        ),
        row!(
            "UpdateBook",
            Admin,
            NotFound,
            BookServiceClient.update_book(pb::UpdateBookRequest {
                book: Some(pb::Book {
                    name: "projects/acme/books/missing".into(),
                    display_name: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()]
                }),
                ..Default::default()
            })
        ),
        // Evaluating a caller's own book needs a role that may write somewhere (issue 15,
        // part 4).
        row!(
            "ValidateBook",
            DeployerSomewhere,
            InvalidArgument,
            BookServiceClient.validate_book(pb::ValidateBookRequest::default())
        ),
        row!(
            "RenderBook of an inline book",
            DeployerSomewhere,
            InvalidArgument,
            BookServiceClient.render_book(pb::RenderBookRequest {
                book_ref: Some(pb::render_book_request::BookRef::Book(pb::Book::default())),
                target: Some(pb::render_book_request::Target::Snapshot(
                    pb::DeploymentSnapshot::default()
                )),
                action: pb::OperationAction::Deploy.into()
            })
        ),
        // Viewer on the deployment's project, and deployer somewhere for the inline book: of
        // the matrix's callers, those are the ones who may deploy it.
        row!(
            "RenderBook of an inline book for a deployment",
            Deployer,
            InvalidArgument,
            BookServiceClient.render_book(pb::RenderBookRequest {
                book_ref: Some(pb::render_book_request::BookRef::Book(pb::Book::default())),
                target: Some(pb::render_book_request::Target::Deployment(SHOP.into())),
                action: pb::OperationAction::Deploy.into()
            })
        ),
        row!(
            "RenderBook",
            Viewer,
            Ok,
            BookServiceClient.render_book(pb::RenderBookRequest {
                book_ref: Some(pb::render_book_request::BookRef::Name(
                    "books/none-deploy".into()
                )),
                target: Some(pb::render_book_request::Target::Deployment(SHOP.into())),
                action: pb::OperationAction::Deploy.into()
            })
        ),
        row!(
            "ExportBook",
            Viewer,
            NotFound,
            BookServiceClient.export_book(pb::ExportBookRequest {
                name: "projects/acme/books/missing".into(),
                format: pb::BookFormat::Yaml.into(),
            })
        ),
        row!(
            "GetJob",
            Viewer,
            NotFound,
            JobServiceClient.get_job(pb::GetJobRequest {
                name: MISSING_JOB.into()
            })
        ),
        row!(
            "ListJobs",
            Viewer,
            Ok,
            JobServiceClient.list_jobs(pb::ListJobsRequest {
                parent: SHOP.into(),
                ..Default::default()
            })
        ),
        row!(
            "CancelJob",
            Deployer,
            NotFound,
            JobServiceClient.cancel_job(pb::CancelJobRequest {
                name: MISSING_JOB.into(),
                ..Default::default()
            })
        ),
        row!(
            "RetryJob",
            Deployer,
            NotFound,
            JobServiceClient.retry_job(pb::RetryJobRequest {
                name: MISSING_JOB.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetJobStepLog",
            Viewer,
            NotFound,
            JobServiceClient.get_job_step_log(pb::GetJobStepLogRequest {
                job: MISSING_JOB.into(),
                ..Default::default()
            })
        ),
        row!(
            "WatchJob",
            Viewer,
            NotFound,
            JobServiceClient.watch_job(pb::WatchJobRequest {
                name: MISSING_JOB.into(),
                ..Default::default()
            })
        ),
        row!(
            "ListVersions",
            Viewer,
            Ok,
            VersionServiceClient.list_versions(pb::ListVersionsRequest {
                parent: SHOP.into(),
                ..Default::default()
            })
        ),
        row!(
            "GetVersion",
            Viewer,
            NotFound,
            VersionServiceClient.get_version(pb::GetVersionRequest {
                name: format!("{SHOP}/versions/99")
            })
        ),
        row!(
            "DiffVersions",
            Viewer,
            NotFound,
            VersionServiceClient.diff_versions(pb::DiffVersionsRequest {
                from: format!("{SHOP}/versions/98"),
                to: format!("{SHOP}/versions/99")
            })
        ),
        row!(
            "CreateToken",
            GlobalAdmin,
            InvalidArgument,
            AccessServiceClient.create_token(pb::CreateTokenRequest {
                token_id: "Not A Slug".into(),
                ..Default::default()
            })
        ),
        row!(
            "ListTokens",
            GlobalAdmin,
            Ok,
            AccessServiceClient.list_tokens(pb::ListTokensRequest::default())
        ),
        row!(
            "GetToken",
            GlobalAdmin,
            NotFound,
            AccessServiceClient.get_token(pb::GetTokenRequest {
                name: "tokens/missing".into()
            })
        ),
        row!(
            "RevokeToken",
            GlobalAdmin,
            NotFound,
            AccessServiceClient.revoke_token(pb::RevokeTokenRequest {
                name: "tokens/missing".into(),
                ..Default::default()
            })
        ),
        row!(
            "WhoAmI",
            AnyCaller,
            Ok,
            AccessServiceClient.who_am_i(pb::WhoAmIRequest {})
        ),
    ]
}

/// Seeds projects `acme` (scope, directory cluster, group, deployment) and `other`.
async fn seed(suite: &Suite, channel: Channel) {
    let mut gateway = Gateway::new(channel, suite.admin_token.clone());
    gateway
        .create_shop("acme", "ACME", &suite.clusters_dir().join("local"))
        .await
        .unwrap();
    gateway.create_project("other", "OTHER").await.unwrap();
}

/// A token with one role binding, made by the global admin.
async fn token_with(
    channel: Channel,
    admin: &str,
    id: &str,
    project: &str,
    role: pb::Role,
) -> String {
    Gateway::new(channel, admin)
        .create_token(id, project, role)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_public_rpc_gives_each_caller_the_right_code() {
    let suite = Suite::start().await.unwrap();
    let channel = suite.gateway_channel().await.unwrap();
    seed(&suite, channel.clone()).await;
    let admin = suite.admin_token.clone();
    let token_of = [
        (Caller::NoToken, None),
        (
            Caller::Viewer,
            Some(token_with(channel.clone(), &admin, "viewer", ACME, pb::Role::Viewer).await),
        ),
        (
            Caller::Deployer,
            Some(
                token_with(
                    channel.clone(),
                    &admin,
                    "deployer",
                    ACME,
                    pb::Role::Deployer,
                )
                .await,
            ),
        ),
        (
            Caller::AdminOfAnotherProject,
            Some(
                token_with(
                    channel.clone(),
                    &admin,
                    "other-admin",
                    "projects/other",
                    pb::Role::Admin,
                )
                .await,
            ),
        ),
        (
            Caller::Admin,
            Some(token_with(channel.clone(), &admin, "admin", ACME, pb::Role::Admin).await),
        ),
        (Caller::GlobalAdmin, Some(admin.clone())),
    ];

    let mut wrong = Vec::new();
    let rows = rows();
    for row in &rows {
        for caller in CALLERS {
            let token = token_of
                .iter()
                .find(|(c, _)| *c == caller)
                .unwrap()
                .1
                .clone();
            let expected = match caller {
                Caller::NoToken => Code::Unauthenticated,
                caller if caller.may(row.need) => row.authorized,
                _ => Code::PermissionDenied,
            };
            let got = (row.call)(channel.clone(), token).await;
            if got != expected {
                wrong.push(format!(
                    "{} as {caller:?}: expected {expected:?}, got {got:?}",
                    row.rpc
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cells wrong:\n{}",
        wrong.len(),
        rows.len() * CALLERS.len(),
        wrong.join("\n")
    );

    // Nothing a refused or malformed call asked for happened: the seed is all there is.
    let deployments = DeploymentServiceClient::new(channel.clone())
        .list_deployments(with_token(
            &admin,
            pb::ListDeploymentsRequest {
                parent: GROUP.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deployments;
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].state(), pb::DeploymentState::Draft);
}

#[tokio::test]
async fn a_caller_lists_only_the_projects_it_holds_a_role_on() {
    let suite = Suite::start().await.unwrap();
    let channel = suite.gateway_channel().await.unwrap();
    seed(&suite, channel.clone()).await;
    let viewer = token_with(
        channel.clone(),
        &suite.admin_token,
        "viewer",
        ACME,
        pb::Role::Viewer,
    )
    .await;
    let list = |token: String| {
        let channel = channel.clone();
        async move {
            DeploymentServiceClient::new(channel)
                .list_projects(with_token(&token, pb::ListProjectsRequest::default()))
                .await
                .unwrap()
                .into_inner()
                .projects
                .into_iter()
                .map(|project| project.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(viewer).await, [ACME]);
    assert_eq!(
        list(suite.admin_token.clone()).await,
        [ACME, "projects/other"]
    );
}
