//! The suite benchmark: every row of BENCHMARKS.md, each a ratio against a floor measured in the
//! same run (machines here are shared and noisy: absolute times drift, ratios hold).
//!
//! `scripts/bench` runs it in release on a fresh PostgreSQL database and rewrites the table in
//! BENCHMARKS.md; `-- --quick` is a smoke run of a few seconds that asserts nothing.

mod echo;
mod report;
mod rows;
mod stats;

use std::time::Instant;

use report::Row;

/// How much work each row does.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Unary calls per measured series (B1, B5).
    pub calls: usize,
    /// Watchers of B2 and B6.
    pub watchers: usize,
    /// Seconds of events at 50 events/s (B2).
    pub event_seconds: u64,
    /// Jobs for B3, pickups for B4.
    pub jobs: usize,
    /// Deployments in the group B7 watches.
    pub group_size: usize,
    /// Seconds B7 measures each side.
    pub idle_seconds: u64,
}

const FULL: Scale = Scale {
    calls: 4000,
    watchers: 1000,
    event_seconds: 10,
    jobs: 400,
    group_size: 5000,
    idle_seconds: 30,
};

const QUICK: Scale = Scale {
    calls: 50,
    watchers: 20,
    event_seconds: 1,
    jobs: 10,
    group_size: 20,
    idle_seconds: 1,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let write = args
        .iter()
        .position(|arg| arg == "--write")
        .and_then(|index| args.get(index + 1))
        .cloned();
    let scale = if quick { QUICK } else { FULL };
    if std::env::var("EYRIE_TEST_DATABASE_URL").is_err() {
        eprintln!(
            "note: EYRIE_TEST_DATABASE_URL is not set, so the services run on SQLite; \
             scripts/bench sets up PostgreSQL"
        );
    }
    let started = Instant::now();
    // `--only B2,B6` runs some rows, to measure a change quickly (nothing is written then).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|index| args.get(index + 1))
        .map(|ids| ids.split(',').map(str::to_owned).collect());
    let wanted = |id: &str| only.as_ref().is_none_or(|ids| ids.iter().any(|i| i == id));
    let write = write.filter(|_| only.is_none());
    let mut table: Vec<Row> = Vec::new();
    if wanted("B1") {
        table.extend(rows::unary::run(scale).await?);
    }
    if wanted("B2") {
        table.extend(rows::fanout::run(scale).await?);
    }
    if wanted("B3") {
        table.extend(rows::throughput::run(scale).await?);
    }
    if wanted("B4") {
        table.extend(rows::pickup::run(scale).await?);
    }
    if wanted("B5") {
        table.extend(rows::versions::run(scale).await?);
    }
    if wanted("B6") {
        table.extend(rows::memory::run(scale).await?);
    }
    if wanted("B7") {
        table.extend(rows::idle_watch::run(scale).await?);
    }
    let markdown = report::markdown(&table, started.elapsed());
    println!("{markdown}");
    if let Some(path) = write {
        report::write_into(&path, &markdown)?;
        println!("written into {path}");
    }
    Ok(())
}
