//! The whole suite as separate processes: version-svc, book-runner-svc, deployment-svc and the
//! gateway, wired to each other as in production, with a `directory` cluster folder.

use std::path::{Path, PathBuf};

use crate::{ServiceConfig, ServiceProcess, TestDatabase, auth};

/// Four running services and the gateway's admin token.
pub struct Suite {
    /// version-svc.
    pub version: ServiceProcess,
    /// book-runner-svc.
    pub book_runner: ServiceProcess,
    /// deployment-svc.
    pub deployment: ServiceProcess,
    /// The gateway, the one public endpoint.
    pub gateway: ServiceProcess,
    /// The gateway's bootstrap global-admin token.
    pub admin_token: String,
    data_dir: tempfile::TempDir,
}

/// Extra configuration, as TOML, per service.
#[derive(Debug, Clone, Default)]
pub struct SuiteConfig {
    /// Added to the gateway's file.
    pub gateway: String,
    /// Added to book-runner-svc's `[runner]` section.
    pub runner: String,
}

/// Settings given to every service of the suite alike.
#[derive(Debug, Clone, Default)]
pub struct EveryService {
    /// Whole TOML sections added to every service's file (e.g. `[telemetry]`).
    pub toml: String,
    /// Environment variables of every service.
    pub env: Vec<(String, String)>,
    /// Where every service stores its data.
    pub database: TestDatabase,
}

impl EveryService {
    /// The configuration of `service`: `extra` (its own TOML) and these shared settings.
    fn config(&self, service: &str, data_dir: &Path, extra: &str) -> ServiceConfig {
        let toml = format!("{extra}\n\n{}", self.toml);
        let mut config = ServiceConfig::on_database(service, data_dir, &toml, self.database);
        config.env.extend(self.env.iter().cloned());
        config
    }
}

impl Suite {
    /// Starts the suite with default settings.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(SuiteConfig::default()).await
    }

    /// Starts the suite with `extra` settings.
    pub async fn start_with(extra: SuiteConfig) -> anyhow::Result<Self> {
        Self::start_with_every(extra, EveryService::default()).await
    }

    /// Starts the suite with `extra` settings per service and `every` setting of all of them.
    pub async fn start_with_every(extra: SuiteConfig, every: EveryService) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let dir = data_dir.path();
        std::fs::create_dir_all(dir.join("clusters"))?;
        // deployment-svc and book-runner-svc call each other: the runner is told deployment-svc's
        // address before it runs, so that address is chosen first.
        let deployment_addr = free_loopback_address()?;

        let version =
            ServiceProcess::start("version-svc", every.config("version-svc", dir, "")).await?;
        let book_runner = ServiceProcess::start(
            "book-runner-svc",
            every.config(
                "book-runner-svc",
                dir,
                &format!(
                    "[runner]\npoll_interval = \"100ms\"\ndirectory_root = \"{}\"\n{}\n\n[peers]\ndeployment = \"http://{deployment_addr}\"",
                    dir.join("clusters").display(),
                    extra.runner,
                ),
            ),
        )
        .await?;
        let deployment = ServiceProcess::start(
            "deployment-svc",
            every
                .config(
                    "deployment-svc",
                    dir,
                    &format!(
                        "[peers]\nbook_runner = \"{}\"\nversion = \"{}\"",
                        book_runner.url(),
                        version.url()
                    ),
                )
                .env("EYRIE_SERVER__LISTEN_ADDR", &deployment_addr),
        )
        .await?;
        let gateway = ServiceProcess::start(
            "gateway",
            every.config(
                "gateway",
                dir,
                &format!(
                    "[backends]\ndeployment = \"{}\"\nbook_runner = \"{}\"\nversion = \"{}\"\n\n{}",
                    deployment.url(),
                    book_runner.url(),
                    version.url(),
                    extra.gateway,
                ),
            ),
        )
        .await?;
        let admin_token = auth::admin_token(dir);
        Ok(Self {
            version,
            book_runner,
            deployment,
            gateway,
            admin_token,
            data_dir,
        })
    }

    /// The data directory (databases on SQLite, the admin token).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The folder holding the `directory` clusters' objects; an absolute path, as clusters need.
    pub fn clusters_dir(&self) -> PathBuf {
        self.data_dir.path().join("clusters")
    }

    /// A channel to the gateway.
    pub async fn gateway_channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        self.gateway.channel().await
    }
}

/// version-svc and a gateway whose only backend it is, both with their files in `data_dir` and
/// the environment `env`: enough for the tests of the version API and of the gateway itself.
pub async fn version_behind_gateway(
    data_dir: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(ServiceProcess, ServiceProcess)> {
    let version = ServiceProcess::start(
        "version-svc",
        with_env(ServiceConfig::for_service("version-svc", data_dir, ""), env),
    )
    .await?;
    let gateway = gateway_in_front_of_version(data_dir, &version, env).await?;
    Ok((version, gateway))
}

/// A gateway whose only backend is the running `version`, with its files in `data_dir` and the
/// environment `env`.
pub async fn gateway_in_front_of_version(
    data_dir: &Path,
    version: &ServiceProcess,
    env: &[(&str, &str)],
) -> anyhow::Result<ServiceProcess> {
    let backends = format!("[backends]\nversion = \"{}\"", version.url());
    let config = ServiceConfig::for_service("gateway", data_dir, &backends);
    ServiceProcess::start("gateway", with_env(config, env)).await
}

fn with_env(config: ServiceConfig, env: &[(&str, &str)]) -> ServiceConfig {
    env.iter()
        .fold(config, |config, (key, value)| config.env(key, value))
}

/// A loopback address with a port free right now, below the ephemeral range (32768 and up on
/// Linux): a port the system handed out for listening could be taken by an outgoing connection
/// before the service binds it.
pub fn free_loopback_address() -> std::io::Result<String> {
    use std::hash::{BuildHasher as _, Hasher as _};
    for _ in 0..200 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Ok(listener.local_addr()?.to_string());
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        "no free loopback port below 32000",
    ))
}
