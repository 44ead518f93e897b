//! `eyrie up` as a user runs it: started on a data directory, read from what it prints, stopped
//! with Ctrl-C.

use std::{ffi::OsString, path::Path, time::Duration};

use anyhow::{Context as _, bail};

use crate::{ServiceProcess, binary};

/// The last line `eyrie up` prints once everything it does at start is done.
pub const READY_LINE: &str = "Press Ctrl-C to stop.";

/// Longest `eyrie up` may take from its address line to [`READY_LINE`] (it makes the sample
/// project in between).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts `eyrie up --port 0 --data-dir <data_dir> <extra>` and waits until it printed
/// [`READY_LINE`].
pub async fn start(data_dir: &Path, extra: &[&str]) -> anyhow::Result<ServiceProcess> {
    let mut args: Vec<OsString> = vec![
        "up".into(),
        "--port".into(),
        "0".into(),
        "--data-dir".into(),
        data_dir.into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    let process = ServiceProcess::spawn(
        binary("eyrie"),
        args,
        Vec::new(),
        tempfile::tempdir()?,
        "  gateway:     http://",
    )
    .await?;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    while !printed(&process).iter().any(|line| line == READY_LINE) {
        if tokio::time::Instant::now() > deadline {
            bail!(
                "eyrie up did not print {READY_LINE:?}; stdout:\n{}\nlog:\n{}",
                printed(&process).join("\n"),
                process.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(process)
}

/// Every line `eyrie up` printed on stdout so far but its gateway address line.
pub fn printed(process: &ServiceProcess) -> Vec<String> {
    process.stdout.lock().unwrap().clone()
}

/// The admin token `eyrie up` printed.
pub fn token(process: &ServiceProcess) -> anyhow::Result<String> {
    printed(process)
        .iter()
        .find_map(|line| line.trim().strip_prefix("admin token: ").map(str::to_owned))
        .context("eyrie up printed no admin token")
}

/// Stops `eyrie up` as Ctrl-C does and waits until it exited successfully.
pub async fn stop(mut process: ServiceProcess) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-INT", &process.pid().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -INT failed");
    let exit = process.wait(Duration::from_secs(20)).await?;
    anyhow::ensure!(
        exit.success(),
        "eyrie up exited with {exit:?}\n{}",
        process.logs()
    );
    Ok(())
}
