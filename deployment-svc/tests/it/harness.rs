//! Starting deployment-svc for a test, seeding resources and reading its database directly.

use eyrie_deployment_svc::{DeploymentSvc, Settings};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, init_test_logs, test_databases},
};
use eyrie_proto::{
    internal::v1::RecordVersionRequest,
    v1::{self as pb, deployment_service_client::DeploymentServiceClient},
};
use prost::Message as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use tonic::{Request, transport::Channel};

/// The actor the tests call as.
pub const ACTOR: &str = "tokens/admin";
pub const PROJECT: &str = "projects/acme";
pub const DEV: &str = "projects/acme/scopes/dev";
pub const PRODUCTION: &str = "projects/acme/scopes/production";
pub const EU: &str = "projects/acme/clusters/eu";
pub const US: &str = "projects/acme/clusters/us";
/// An odoo group.
pub const WEB: &str = "projects/acme/groups/web";
/// A none group.
pub const APPS: &str = "projects/acme/groups/apps";

/// deployment-svc on one database, with a client and a direct connection to its database.
pub struct Running {
    /// `sqlite` or `postgres`, for assertion messages.
    pub backend: &'static str,
    pub client: DeploymentServiceClient<Channel>,
    pub db: DatabaseConnection,
    /// Kept alive for the test; dropping it stops the service.
    _server: TestServer,
    _dir: tempfile::TempDir,
}

/// The service on every test database: SQLite in a file (so that the test can open it too)
/// instead of in memory, and PostgreSQL in a fresh schema when `EYRIE_TEST_DATABASE_URL` is set.
pub async fn each_service() -> Vec<Running> {
    init_test_logs();
    let mut running = Vec::new();
    for database in test_databases() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, database) = if database.is_postgres() {
            ("postgres", database)
        } else {
            let url = format!(
                "sqlite://{}/deployments.sqlite?mode=rwc",
                dir.path().display()
            );
            ("sqlite", DatabaseSettings::with_url(url))
        };
        running.push(start(backend, database, dir).await);
    }
    running
}

async fn start(
    backend: &'static str,
    database: DatabaseSettings,
    dir: tempfile::TempDir,
) -> Running {
    let settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: database.clone(),
        ..Settings::default()
    };
    let server = TestServer::start::<DeploymentSvc>(settings).await.unwrap();
    let client = DeploymentServiceClient::new(server.channel().await.unwrap());
    let db = eyrie_platform::db::connect(&database).await.unwrap();
    Running {
        backend,
        client,
        db,
        _server: server,
        _dir: dir,
    }
}

/// `message` sent as [`ACTOR`].
pub fn as_admin<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-eyrie-actor", ACTOR.parse().unwrap());
    request
}

/// The field names in the `BadRequest` details of a refusal.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Asserts that `outcome` failed with `code` and, for INVALID_ARGUMENT, names `field`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    outcome: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
    field: &str,
    context: &str,
) -> tonic::Status {
    let status = outcome.expect_err(context);
    assert_eq!(status.code(), code, "{context}: {status:?}");
    if code == tonic::Code::InvalidArgument {
        assert!(
            violated_fields(&status).iter().any(|f| f == field),
            "{context}: {field} not named in {status:?}"
        );
        assert!(
            status.message().contains(field),
            "{context}: {}",
            status.message()
        );
    }
    status
}

/// Creates project `acme` with scopes `dev` (drop allowed) and `production`, clusters `eu`
/// (directory) and `us` (kubernetes), and groups `web` (odoo) and `apps` (none).
pub async fn seed(client: &mut DeploymentServiceClient<Channel>) {
    client
        .create_project(as_admin(pb::CreateProjectRequest {
            project_id: "acme".into(),
            project: Some(pb::Project {
                display_name: "Acme".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    for (id, display_name, allow_drop) in
        [("dev", "Dev", true), ("production", "Production", false)]
    {
        client
            .create_scope(as_admin(pb::CreateScopeRequest {
                parent: PROJECT.into(),
                scope_id: id.into(),
                scope: Some(pb::Scope {
                    display_name: display_name.into(),
                    allow_drop,
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap();
    }
    let connections = [
        (
            "eu",
            pb::cluster::Connection::Directory(pb::DirectoryConnection {
                path: "/var/lib/eyrie/eu".into(),
                simulated: false,
            }),
        ),
        (
            "us",
            pb::cluster::Connection::Kubernetes(pb::KubernetesConnection {
                kubeconfig_path: "/etc/eyrie/us.kubeconfig".into(),
                context: "us-east".into(),
                in_cluster: false,
            }),
        ),
    ];
    for (id, connection) in connections {
        client
            .create_cluster(as_admin(pb::CreateClusterRequest {
                parent: PROJECT.into(),
                cluster_id: id.into(),
                cluster: Some(pb::Cluster {
                    display_name: id.to_uppercase(),
                    connection: Some(connection),
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap();
    }
    for (id, deployment_type) in [
        ("web", pb::DeploymentType::Odoo),
        ("apps", pb::DeploymentType::None),
    ] {
        create_group(client, PROJECT, id, deployment_type).await;
    }
}

/// Creates group `group` of `deployment_type` in `project` (`projects/{p}`), as an admin.
pub async fn create_group(
    client: &mut DeploymentServiceClient<Channel>,
    project: &str,
    group: &str,
    deployment_type: pb::DeploymentType,
) {
    client
        .create_deployment_group(as_admin(pb::CreateDeploymentGroupRequest {
            parent: project.to_owned(),
            deployment_group_id: group.into(),
            deployment_group: Some(pb::DeploymentGroup {
                display_name: group.into(),
                r#type: deployment_type.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// A valid odoo deployment on cluster `eu` in scope `dev`.
pub fn odoo(display_name: &str) -> pb::Deployment {
    pb::Deployment {
        display_name: display_name.into(),
        scope: DEV.into(),
        clusters: vec![EU.into()],
        repository: "git@github.com:acme/shop.git".into(),
        branch: "17.0".into(),
        image: "odoo:17.0".into(),
        commit_ref: "4f2a9c1".into(),
        parameters: [("db_host".to_owned(), "pg.acme".to_owned())].into(),
        ..Default::default()
    }
}

/// A CreateDeployment of `deployment` as `id` in group `parent`.
pub fn create_request(
    parent: &str,
    id: &str,
    deployment: pb::Deployment,
) -> pb::CreateDeploymentRequest {
    pb::CreateDeploymentRequest {
        parent: parent.into(),
        deployment_id: id.into(),
        deployment: Some(deployment),
        request_id: String::new(),
    }
}

/// Creates `deployment` as `id` in group `parent`.
pub async fn create(
    client: &mut DeploymentServiceClient<Channel>,
    parent: &str,
    id: &str,
    deployment: pb::Deployment,
) -> pb::Deployment {
    client
        .create_deployment(as_admin(create_request(parent, id, deployment)))
        .await
        .unwrap()
        .into_inner()
}

/// Reads deployment `name`.
pub async fn get(client: &mut DeploymentServiceClient<Channel>, name: &str) -> pb::Deployment {
    client
        .get_deployment(pb::GetDeploymentRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

/// An UpdateDeployment of the `paths` of `deployment`.
pub fn update_request(deployment: pb::Deployment, paths: &[&str]) -> pb::UpdateDeploymentRequest {
    pb::UpdateDeploymentRequest {
        deployment: Some(deployment),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
        request_id: String::new(),
    }
}

/// The version records queued for `deployment`, in revision order (read straight from the
/// outbox table; the payload is the hex-encoded RecordVersionRequest).
pub async fn outbox(db: &DatabaseConnection, deployment: &str) -> Vec<RecordVersionRequest> {
    let backend = db.get_database_backend();
    // Names are DNS labels and slashes: nothing to escape.
    let sql = format!(
        "SELECT payload FROM version_outbox WHERE deployment = '{deployment}' ORDER BY revision"
    );
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let payload: String = row.try_get("", "payload").unwrap();
            RecordVersionRequest::decode(hex::decode(payload).unwrap().as_slice()).unwrap()
        })
        .collect()
}

/// Sets the state of `deployment` straight in the database (the lifecycle is not under test).
pub async fn force_state(db: &DatabaseConnection, deployment: &str, state: &str) {
    let sql = format!("UPDATE deployments SET state = '{state}' WHERE name = '{deployment}'");
    let done = db
        .execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}
