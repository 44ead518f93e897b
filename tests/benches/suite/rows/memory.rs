//! B6: the gateway's resident memory per idle WatchJob stream.

use std::time::Duration;

use eyrie_tests::scripted_job::ScriptedJob;

use crate::{
    Scale,
    report::{Row, verdict},
    rows::fanout::{gateway_for, open_watchers},
};

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let publisher = ScriptedJob::default();
    publisher.log(30);
    let (gateway, token) = gateway_for(&publisher, dir.path()).await?;
    // Warm up: one watcher opened and closed, so the baseline includes the gateway's own setup.
    drop(open_watchers(&gateway, &token, 1).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(gateway.pid())?;
    let mut watchers = open_watchers(&gateway, &token, scale.watchers).await?;
    // Each has its first event: the streams are open and idle.
    for stream in &mut watchers {
        stream.message().await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(gateway.pid())?;
    let per_watcher = after.saturating_sub(before) as f64 / scale.watchers as f64;
    drop(watchers);
    Ok(vec![Row {
        id: "B6",
        what: format!(
            "gateway memory per idle WatchJob stream ({} streams)",
            scale.watchers
        ),
        value: format!("{per_watcher:.1} KiB"),
        floor: format!("RSS {before} KiB idle → {after} KiB"),
        ratio: "—".into(),
        target: format!("≤ 64 KiB: {}", verdict(per_watcher <= 64.0)),
    }])
}
