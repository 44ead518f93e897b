//! Helpers for tests of every service (feature `test-util`).

use crate::DatabaseSettings;

/// A loopback port held for a test but not listening: a connection to it is refused at once,
/// as to a service that is down, and no other process can take the port, so the service the
/// test starts there later gets it. (Binding a port, dropping it and binding it again later
/// races every other process that asks the system for a free port.)
#[derive(Debug)]
pub struct ClosedPort {
    socket: tokio::net::TcpSocket,
    /// The address held.
    pub address: std::net::SocketAddr,
}

impl ClosedPort {
    /// Holds a free loopback port.
    pub fn hold() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = socket.local_addr()?;
        Ok(Self { socket, address })
    }

    /// `http://` and the address, for a peer setting.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts listening on the held port: the service is up.
    pub fn listen(self) -> std::io::Result<tokio::net::TcpListener> {
        self.socket.listen(1024)
    }
}

/// Variable naming the PostgreSQL database that storage tests also run on (CI sets it).
pub const TEST_DATABASE_URL: &str = "EYRIE_TEST_DATABASE_URL";

/// The databases a storage test must pass on: SQLite (in memory) always, and PostgreSQL when
/// `EYRIE_TEST_DATABASE_URL` is set, in a schema of its own so that no test sees another's rows.
pub fn test_databases() -> Vec<DatabaseSettings> {
    let mut databases = vec![DatabaseSettings::with_url("sqlite::memory:")];
    if let Some(postgres) = postgres_test_database() {
        databases.push(postgres);
    }
    databases
}

/// PostgreSQL settings with a fresh schema, when `EYRIE_TEST_DATABASE_URL` is set.
pub fn postgres_test_database() -> Option<DatabaseSettings> {
    let url = std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|url| !url.is_empty())?;
    Some(DatabaseSettings {
        schema: Some(fresh_schema_name()),
        ..DatabaseSettings::with_url(url)
    })
}

/// A schema name no other test uses: `t_` and a random suffix.
pub fn fresh_schema_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// A short description of where a test runs, for assertion messages.
pub fn describe(settings: &DatabaseSettings) -> &'static str {
    if settings.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A service running in the test process on a free loopback port, stopped when dropped.
pub struct TestServer {
    /// Where it listens.
    pub address: std::net::SocketAddr,
    /// How test clients reach it over TLS; `None` for plaintext.
    tls: Option<tonic::transport::ClientTlsConfig>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts service `S` with `settings` and waits until its health says `SERVING`.
    pub async fn start<S: crate::standalone::Service>(
        settings: S::Settings,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on::<S>(listener, settings).await
    }

    /// Starts service `S` on `listener`: bind first when peers must know the address before the
    /// service starts.
    pub async fn start_on<S: crate::standalone::Service>(
        listener: tokio::net::TcpListener,
        settings: S::Settings,
    ) -> anyhow::Result<Self> {
        Self::start_serving::<S>(listener, settings, None).await
    }

    /// Starts service `S`, whose `settings` serve TLS, on a free loopback port; its channels
    /// (and the wait for `SERVING`) connect with `client`.
    pub async fn start_tls<S: crate::standalone::Service>(
        settings: S::Settings,
        client: tonic::transport::ClientTlsConfig,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::start_serving::<S>(listener, settings, Some(client)).await
    }

    async fn start_serving<S: crate::standalone::Service>(
        listener: tokio::net::TcpListener,
        settings: S::Settings,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> anyhow::Result<Self> {
        init_test_logs();
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(S::run(settings, listener, async {
            let _ = stopped.await;
        }));
        let server = Self {
            address,
            tls,
            stop: Some(stop),
            task: Some(task),
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&self) -> anyhow::Result<()> {
        use tonic_health::pb::{
            HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
        };
        for _ in 0..500 {
            if let Some(task) = &self.task
                && task.is_finished()
            {
                anyhow::bail!("the service stopped while starting");
            }
            if let Ok(channel) = self.channel().await {
                let answer = HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await;
                if answer.is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving) {
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        anyhow::bail!("the service at {} never became SERVING", self.address)
    }

    /// `http://<address>`, or `https://<address>` over TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// A connected channel to the service (over TLS with the client settings it was started with).
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.url())?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        Ok(endpoint.connect().await?)
    }

    /// Stops the service and waits until it has drained.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Prints the services' logs when `TEST_LOG` is set (to a filter, e.g. `debug`); quiet otherwise.
pub fn init_test_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// The deployment the tests run jobs for.
pub const SAMPLE_DEPLOYMENT: &str = "projects/acme/groups/web/deployments/shop";

/// A snapshot of [`SAMPLE_DEPLOYMENT`] (namespace `acme-shop`) of `deployment_type` (`odoo`,
/// `none`, ...) on one `directory` cluster at `cluster_path`, with `parameters`.
pub fn sample_deployment_snapshot(
    deployment_type: &str,
    cluster_path: &str,
    parameters: &[(&str, &str)],
) -> eyrie_proto::v1::DeploymentSnapshot {
    use eyrie_proto::v1::{self as pb, deployment_snapshot as snap};
    let group_type = pb::DeploymentType::from_str_name(&format!(
        "DEPLOYMENT_TYPE_{}",
        deployment_type.to_uppercase()
    ))
    .unwrap_or_default();
    pb::DeploymentSnapshot {
        deployment: Some(snap::Deployment {
            name: SAMPLE_DEPLOYMENT.into(),
            slug: "shop".into(),
            display_name: "Shop".into(),
            key_fields: Some(pb::KeyFields {
                repository: "git@github.com:acme/shop.git".into(),
                branch: "main".into(),
                image: "registry.example/shop:1.0".into(),
                commit_ref: "4f2a9c1".into(),
                clusters: vec!["projects/acme/clusters/c1".into()],
                scope: "projects/acme/scopes/dev".into(),
                parameters: parameters
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
            state: pb::DeploymentState::Deploy.into(),
        }),
        project: Some(snap::Project {
            name: "projects/acme".into(),
            slug: "acme".into(),
            display_name: "Acme".into(),
            boundary: None,
        }),
        group: Some(snap::Group {
            name: "projects/acme/groups/web".into(),
            slug: "web".into(),
            display_name: "Web".into(),
            r#type: group_type.into(),
        }),
        scope: Some(snap::Scope {
            name: "projects/acme/scopes/dev".into(),
            slug: "dev".into(),
            display_name: "Dev".into(),
            allow_drop: true,
        }),
        clusters: vec![snap::Cluster {
            name: "projects/acme/clusters/c1".into(),
            slug: "c1".into(),
            display_name: "C1".into(),
            connection: Some(snap::cluster::Connection::Directory(
                pb::DirectoryConnection {
                    path: cluster_path.into(),
                    simulated: false,
                },
            )),
        }],
        namespace: "acme-shop".into(),
        version: 1,
        revision: 1,
        project_namespaces: Vec::new(),
    }
}
