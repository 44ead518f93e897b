//! chromedriver as a child process on a free loopback port, and the headless Chromium session it
//! runs.

use std::{
    fs::File,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::{
    sys::signal::{Signal, killpg},
    unistd::{Pid, geteuid},
};
use serde_json::json;
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    process::{Child, Command},
};

use super::{CHROMEDRIVER, CHROMIUM, Viewport};

/// How long chromedriver may take to answer `/status` once started.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Chromium may take to start and give chromedriver a session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// WebDriver's own limits on a page load and a script (axe runs as an async script).
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver process and its folder (logs, Chromium's profile). Dropping it kills
/// chromedriver and every Chromium process it started: they share its process group.
#[derive(Debug)]
pub(super) struct Driver {
    child: Child,
    pub(super) url: String,
    pub(super) dir: TempDir,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until its `/status` says ready.
    ///
    /// chromedriver binds the port itself, after the probe that found it free let go of it:
    /// another process may take it in between, and chromedriver then exits at once. It is
    /// started again on another port then, a bounded number of times.
    pub(super) async fn start() -> anyhow::Result<Self> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            match Self::start_on(free_port()?).await {
                Err((error, true)) if attempt < ATTEMPTS => {
                    eprintln!("chromedriver exited at start; trying another port: {error:#}");
                    attempt += 1;
                }
                outcome => return outcome.map_err(|(error, _)| error),
            }
        }
    }

    /// Starts chromedriver on `port`; on failure, the error and whether chromedriver exited.
    async fn start_on(port: u16) -> Result<Self, (anyhow::Error, bool)> {
        let spawn = || -> anyhow::Result<Self> {
            let dir = tempfile::Builder::new()
                .prefix("eyrie-browser-")
                .tempdir()?;
            let output = File::create(dir.path().join("chromedriver.out"))?;
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.path().join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(output.try_clone()?)
                .stderr(output)
                // Its own process group, so that Drop can end Chromium's processes too, and a
                // terminal's Ctrl-C reaches the test alone.
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {CHROMEDRIVER}"))?;
            let driver = Self {
                child,
                url: format!("http://127.0.0.1:{port}/"),
                dir,
            };
            Ok(driver)
        };
        let mut driver = spawn().map_err(|error| (error, false))?;
        match driver.wait_ready(port).await {
            Ok(()) => Ok(driver),
            Err(error) => {
                let exited = matches!(driver.child.try_wait(), Ok(Some(_)));
                Err((error, exited))
            }
        }
    }

    async fn wait_ready(&mut self, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "chromedriver exited at start ({status})\n{}",
                    self.log_tail()
                );
            }
            if status_ready(port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "chromedriver did not answer /status within {DRIVER_START_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a headless Chromium session of the given window size, its profile in a fresh
    /// folder.
    pub(super) async fn session(&self, viewport: Viewport) -> anyhow::Result<Client> {
        let profile = self.dir.path().join("profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            // /dev/shm is small in containers; Chromium then crashes on shared memory.
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={},{}", viewport.width, viewport.height),
            format!("--user-data-dir={}", profile.display()),
        ];
        // Chromium refuses to start its sandbox as root.
        if geteuid().is_root() {
            args.push("--no-sandbox".to_owned());
        }
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {
                "pageLoad": PAGE_LOAD_TIMEOUT.as_millis() as u64,
                "script": SCRIPT_TIMEOUT.as_millis() as u64,
                "implicit": 0,
            },
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = builder.connect(&self.url);
        match tokio::time::timeout(SESSION_TIMEOUT, connect).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => bail!(
                "chromedriver could not start Chromium: {error}\n{}",
                self.log_tail()
            ),
            Err(_) => bail!(
                "Chromium did not start within {SESSION_TIMEOUT:?}\n{}",
                self.log_tail()
            ),
        }
    }

    /// The last lines chromedriver printed and logged (it logs Chromium's start errors).
    pub(super) fn log_tail(&self) -> String {
        let mut tail = String::new();
        for name in ["chromedriver.out", "chromedriver.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let last = lines[lines.len().saturating_sub(15)..].join("\n");
            tail.push_str(&format!("--- {name} (last lines)\n{last}\n"));
        }
        tail
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium's processes are chromedriver's children: killing chromedriver alone would
        // leave them running. The group is chromedriver's own (process_group(0) above).
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// A loopback port free now (the listener closes on return; chromedriver binds it next).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether chromedriver's `GET /status` answers `"ready": true`.
async fn status_ready(port: u16) -> bool {
    let answer = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        // chromedriver keeps the connection open: read until the body is one whole JSON value.
        let mut response = Vec::new();
        let mut buffer = [0; 1024];
        loop {
            let read = stream.read(&mut buffer).await?;
            anyhow::ensure!(read > 0, "chromedriver closed the connection");
            response.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&response);
            let body = text.split_once("\r\n\r\n").map(|(_, body)| body);
            if let Some(Ok(body)) = body.map(serde_json::from_str::<serde_json::Value>) {
                return anyhow::Ok(body);
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), answer).await {
        Ok(Ok(body)) => body["value"]["ready"] == true,
        _ => false,
    }
}
