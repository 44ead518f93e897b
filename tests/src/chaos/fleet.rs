//! The fleet: two replicas of every service and of the gateway, as separate processes on one
//! PostgreSQL, each replica at an address of its own that it keeps across restarts (its peers
//! name it in their configuration).

use std::{path::Path, time::Duration};

use anyhow::Context as _;
use nix::{sys::signal, unistd::Pid};

use crate::{ServiceConfig, ServiceProcess, auth, free_loopback_address};

/// Replicas per service.
pub const REPLICAS: usize = 2;

/// The runner's lease: short, so that a paused replica loses its jobs within the run.
pub const LEASE: Duration = Duration::from_secs(3);

/// The services, in the order they start (each one's peers are up before it).
pub const SERVICES: [&str; 4] = [
    "version-svc",
    "book-runner-svc",
    "deployment-svc",
    "gateway",
];

/// One replica: its configuration, kept to start it again, and its process while it runs.
pub struct Replica {
    /// The service binary.
    pub service: &'static str,
    /// Which of the service's replicas (0 or 1).
    pub index: usize,
    /// `127.0.0.1:port`, the same across restarts.
    pub address: String,
    config: ServiceConfig,
    process: Option<ServiceProcess>,
}

impl Replica {
    /// `service#index`, for the report.
    pub fn label(&self) -> String {
        format!("{}#{}", self.service, self.index)
    }

    /// Starts (again) the replica's process.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let process = ServiceProcess::start(self.service, self.config.clone())
            .await
            .with_context(|| format!("starting {}", self.label()))?;
        self.process = Some(process);
        Ok(())
    }

    /// SIGKILL, as a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            process.kill().await?;
        }
        Ok(())
    }

    /// SIGTERM, as a rollout does, then waits for the process to stop by itself (a minute at
    /// most: it drains its calls and hands back its jobs first).
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            let pid = Pid::from_raw(i32::try_from(process.pid())?);
            signal::kill(pid, signal::Signal::SIGTERM)?;
            let status = process
                .wait(Duration::from_secs(60))
                .await
                .with_context(|| format!("{} did not stop after SIGTERM", self.label()))?;
            anyhow::ensure!(status.success(), "{} stopped with {status}", self.label());
        }
        Ok(())
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServiceProcess::pid)
    }

    /// SIGSTOP, as a long GC pause or a stalled node: returns once every thread of the process
    /// is stopped.
    pub async fn freeze(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("not running")?;
        signal::kill(Pid::from_raw(i32::try_from(pid)?), signal::Signal::SIGSTOP)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !all_threads_stopped(pid) {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not stop after SIGSTOP",
                self.label()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// SIGCONT: a frozen replica wakes up, its leases long gone.
    pub fn thaw(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("not running")?;
        signal::kill(Pid::from_raw(i32::try_from(pid)?), signal::Signal::SIGCONT)?;
        Ok(())
    }
}

/// Whether every thread of `pid` is in the stopped state (`T` in `/proc/<pid>/task/*/stat`).
pub(super) fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the command name, which is in parentheses and may hold spaces.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "T" || state == "t")
        })
    })
}

/// Every replica, by service.
pub struct Fleet {
    /// All replicas, [`SERVICES`] order, [`REPLICAS`] each.
    pub replicas: Vec<Replica>,
    runner_schema: String,
}

impl Fleet {
    /// Starts two replicas of each service on the PostgreSQL database `url`, each service in
    /// a schema of its own that both its replicas share, with their files in `dir`.
    pub async fn start(url: &str, dir: &Path) -> anyhow::Result<Self> {
        let clusters = dir.join("clusters");
        std::fs::create_dir_all(&clusters)?;
        let mut addresses = Vec::new();
        for _ in 0..SERVICES.len() * REPLICAS {
            addresses.push(free_loopback_address()?);
        }
        let urls = |service: &str| {
            let at = SERVICES
                .iter()
                .position(|s| *s == service)
                .expect("a service")
                * REPLICAS;
            addresses[at..at + REPLICAS]
                .iter()
                .map(|address| format!("http://{address}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let run = uuid_suffix();
        let mut replicas = Vec::new();
        for (s, service) in SERVICES.iter().enumerate() {
            let schema = schema_of(service, &run);
            let own = match *service {
                "book-runner-svc" => format!(
                    "[runner]\nlease_ttl = \"{}ms\"\npoll_interval = \"100ms\"\ncancel_check_interval = \"200ms\"\nshutdown_grace = \"1s\"\ndirectory_root = \"{}\"\n\n[peers]\ndeployment = \"{}\"",
                    LEASE.as_millis(),
                    clusters.display(),
                    urls("deployment-svc")
                ),
                "deployment-svc" => format!(
                    "[lifecycle]\nreconcile_interval = \"1s\"\n\n[peers]\nbook_runner = \"{}\"\nversion = \"{}\"",
                    urls("book-runner-svc"),
                    urls("version-svc")
                ),
                "gateway" => format!(
                    "[backends]\ndeployment = \"{}\"\nbook_runner = \"{}\"\nversion = \"{}\"\n\n{}",
                    urls("deployment-svc"),
                    urls("book-runner-svc"),
                    urls("version-svc"),
                    // Both gateways share one bootstrap token file, as pods share a Secret.
                    auth::gateway_auth_config(dir),
                ),
                _ => String::new(),
            };
            for index in 0..REPLICAS {
                let address = addresses[s * REPLICAS + index].clone();
                // Few connections each: eight processes share the server with the rest of the
                // suite.
                let toml = format!(
                    "[database]\nurl = \"{url}\"\nschema = \"{schema}\"\nmax_connections = 4\n\n{own}\n"
                );
                let config = ServiceConfig {
                    toml,
                    env: vec![("EYRIE_SERVER__LISTEN_ADDR".to_owned(), address.clone())],
                };
                replicas.push(Replica {
                    service,
                    index,
                    address,
                    config,
                    process: None,
                });
            }
        }
        let mut fleet = Self {
            replicas,
            runner_schema: schema_of("book-runner-svc", &run),
        };
        // The replicas of one service start together: they race for the migrations and, for
        // the gateways, for the bootstrap token.
        for service in SERVICES {
            let starts = fleet
                .replicas
                .iter_mut()
                .filter(|replica| replica.service == service)
                .map(Replica::start);
            for started in futures::future::join_all(starts).await {
                started?;
            }
        }
        Ok(fleet)
    }

    /// The schema the runners keep their jobs in.
    pub fn runner_schema(&self) -> &str {
        &self.runner_schema
    }

    /// The gateways' addresses.
    pub fn gateways(&self) -> Vec<String> {
        self.replicas
            .iter()
            .filter(|replica| replica.service == "gateway")
            .map(|replica| format!("http://{}", replica.address))
            .collect()
    }
}

/// The schema of `service` in the run `run`.
fn schema_of(service: &str, run: &str) -> String {
    format!("chaos_{}_{run}", service.replace('-', "_"))
}

/// A short random suffix for the schemas of one run.
fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}{:x}", nanos % 0xffff_ffff, std::process::id())
}

/// The PostgreSQL URL of `EYRIE_TEST_DATABASE_URL`, if set.
pub fn postgres_url() -> Option<String> {
    std::env::var(eyrie_platform::testing::TEST_DATABASE_URL)
        .ok()
        .filter(|url| !url.is_empty())
}
