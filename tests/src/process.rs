//! One Eyrie binary running as a child process, with its output captured.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret as _;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
    sync::Notify,
};

use crate::binary;

/// How long a process may take to print its address (it applies migrations first).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a service process is started with.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    /// Contents of the TOML file passed with `--config`.
    pub toml: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl ServiceConfig {
    /// A configuration listening on a free loopback port, with its database in `data_dir`
    /// (SQLite) or in a fresh schema of `EYRIE_TEST_DATABASE_URL` (PostgreSQL), plus `extra` TOML.
    pub fn for_service(service: &str, data_dir: &Path, extra: &str) -> Self {
        Self::on_database(service, data_dir, extra, TestDatabase::FromEnvironment)
    }

    /// As [`ServiceConfig::for_service`], on the database `database` chooses.
    pub fn on_database(
        service: &str,
        data_dir: &Path,
        extra: &str,
        database: TestDatabase,
    ) -> Self {
        let postgres = match database {
            TestDatabase::FromEnvironment => eyrie_platform::testing::postgres_test_database(),
            TestDatabase::Sqlite => None,
        };
        let database = match postgres {
            Some(postgres) => format!(
                "url = \"{}\"\nschema = \"{}\"",
                postgres
                    .url
                    .as_ref()
                    .expect("test database url")
                    .expose_secret(),
                postgres.schema.as_deref().expect("fresh schema"),
            ),
            None => format!(
                "url = \"sqlite://{}/{service}.sqlite?mode=rwc\"",
                data_dir.display()
            ),
        };
        // The gateway always makes its admin token, in `data_dir` (see `auth::admin_token`).
        let auth = if service == "gateway" {
            crate::auth::gateway_auth_config(data_dir)
        } else {
            String::new()
        };
        Self {
            toml: format!(
                "[server]\nlisten_addr = \"127.0.0.1:0\"\n\n[database]\n{database}\n\n{extra}\n\n{auth}"
            ),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// Which database a test service stores its data in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TestDatabase {
    /// PostgreSQL when `EYRIE_TEST_DATABASE_URL` is set, SQLite otherwise.
    #[default]
    FromEnvironment,
    /// SQLite in the data directory, whatever the environment says.
    Sqlite,
}

/// A running binary; killed when dropped.
pub struct ServiceProcess {
    child: Child,
    /// Where it listens, as printed on its stdout.
    pub address: SocketAddr,
    /// `http`, or `https` when it serves TLS.
    scheme: String,
    /// Every line it printed on stdout but its address line (`eyrie up` prints where each
    /// service listens before it).
    pub stdout: Arc<Mutex<Vec<String>>>,
    logs: Arc<Mutex<String>>,
    log_written: Arc<Notify>,
    _config_dir: tempfile::TempDir,
}

impl ServiceProcess {
    /// Starts service binary `name` with `config` and waits for its address line.
    pub async fn start(name: &str, config: ServiceConfig) -> anyhow::Result<Self> {
        let config_dir = tempfile::tempdir()?;
        let config_path = config_dir.path().join(format!("{name}.toml"));
        std::fs::write(&config_path, &config.toml)?;
        let args = vec!["--config".into(), config_path.into_os_string()];
        Self::spawn(
            binary(name),
            args,
            config.env,
            config_dir,
            &format!("{name} listening on "),
        )
        .await
    }

    /// Starts `binary` with `args` and waits for the stdout line starting with `ready_prefix`,
    /// whose remainder is the address (after `http://` or `https://`, when there).
    pub async fn spawn(
        binary: PathBuf,
        args: Vec<std::ffi::OsString>,
        env: Vec<(String, String)>,
        config_dir: tempfile::TempDir,
        ready_prefix: &str,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(&binary);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A developer's own EYRIE_* settings must not leak into a test.
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EYRIE_")) {
            command.env_remove(key);
        }
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;

        let logs = Arc::new(Mutex::new(String::new()));
        let log_written = Arc::new(Notify::new());
        let stderr = child.stderr.take().context("stderr")?;
        tokio::spawn(collect_lines(stderr, logs.clone(), log_written.clone()));

        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut before_address = Vec::new();
        let (scheme, address) = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = stdout.next_line().await? {
                if let Some(rest) = line.strip_prefix(ready_prefix) {
                    let rest = rest.trim();
                    let (scheme, address) = rest.split_once("://").unwrap_or(("http", rest));
                    let address = address.parse::<SocketAddr>().context("address line")?;
                    return Ok((scheme.to_owned(), address));
                }
                before_address.push(line);
            }
            bail!("exited before printing its address")
        })
        .await
        .context("timed out waiting for the address line")
        .and_then(|found| found)
        .with_context(|| {
            format!(
                "{} did not start; its log:\n{}",
                binary.display(),
                logs.lock().unwrap()
            )
        })?;

        let lines = Arc::new(Mutex::new(before_address));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });

        Ok(Self {
            child,
            address,
            scheme,
            stdout: lines,
            logs,
            log_written,
            _config_dir: config_dir,
        })
    }

    /// `http://<address>`, or `https://<address>` when it serves TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// A channel to the process.
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        Ok(tonic::transport::Endpoint::from_shared(self.url())?
            .connect()
            .await?)
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until a log line contains every one of `needles`; returns that line.
    pub async fn wait_for_log(
        &self,
        needles: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let search = async {
            loop {
                let notified = self.log_written.notified();
                if let Some(line) = self
                    .logs()
                    .lines()
                    .find(|line| needles.iter().all(|n| line.contains(n)))
                {
                    return line.to_owned();
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, search)
            .await
            .with_context(|| format!("no log line with {needles:?}; log:\n{}", self.logs()))
    }

    /// The PostgreSQL schema its configuration names, if any (`schema = "…"`).
    pub fn database_schema(&self) -> Option<String> {
        let files = std::fs::read_dir(self._config_dir.path()).ok()?;
        files.filter_map(Result::ok).find_map(|file| {
            let toml = std::fs::read_to_string(file.path()).ok()?;
            toml.lines().find_map(|line| {
                let value = line.trim().strip_prefix("schema = \"")?;
                Some(value.strip_suffix('"')?.to_owned())
            })
        })
    }

    /// Process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("process still running")
    }

    /// Kills the process with SIGKILL, as a crash would: no cleanup runs.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("SIGKILL")?;
        self.child
            .wait()
            .await
            .context("waiting for the killed process")?;
        Ok(())
    }

    /// Waits for the process to exit by itself.
    pub async fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .context("process did not exit in time")?
            .context("waiting for the process")
    }
}

async fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    sink: Arc<Mutex<String>>,
    written: Arc<Notify>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut sink = sink.lock().unwrap();
            sink.push_str(&line);
            sink.push('\n');
        }
        written.notify_waiters();
    }
}
