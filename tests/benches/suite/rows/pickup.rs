//! B4: job pickup delay, from StartJob's commit to the commit of the claim that starts the
//! job's first step, against a bare LISTEN/NOTIFY ping-pong between two PostgreSQL connections.
//!
//! On PostgreSQL both ends are read from the runner's own signals (`eyrie_jobs.<schema>`, see
//! book-runner-svc's migration `m20261206_000005_job_signals`): a job's id is notified when a
//! transaction that wrote its events commits. The first such notification of a job is
//! StartJob's commit; the second, the claim's (the job started, its first step running). Both
//! arrive on one listening connection, stamped by one clock as they arrive, so the difference
//! is the pickup and nothing else: not StartJob's own transaction, not the time a probe takes
//! to notice. On SQLite, without signals, the runner's own timestamps are used (created →
//! first step started).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use eyrie_proto::{
    internal::v1::job_runner_client::JobRunnerClient,
    v1::{GetJobRequest, job_service_client::JobServiceClient},
};
use sqlx::{Executor as _, postgres::PgListener};
use tokio::sync::mpsc;

use super::throughput::{database_url, runner_suite, start_request};
use crate::{
    Scale,
    report::{Row, verdict},
    stats::{Samples, ms, ratio},
};

fn seconds(t: &prost_types::Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

/// Pickup delays of `count` jobs started one at a time, from the runner's signals.
async fn pickups_from_signals(url: &str, count: usize) -> anyhow::Result<Samples> {
    let suite = runner_suite().await?;
    let schema = suite
        .book_runner
        .database_schema()
        .context("the runner's schema")?;
    let mut listener = PgListener::connect(url).await?;
    listener.listen(&format!("eyrie_jobs.{schema}")).await?;
    // Stamped as they arrive, by a task that does nothing else.
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<(String, Instant)>();
    let stamping = tokio::spawn(async move {
        while let Ok(notification) = listener.recv().await {
            let at = Instant::now();
            if arrived
                .send((notification.payload().to_owned(), at))
                .is_err()
            {
                break;
            }
        }
    });
    let mut runner = JobRunnerClient::new(suite.book_runner.channel().await?);
    let mut delays = Vec::new();
    for index in 0..count + 5 {
        let job = runner.start_job(start_request(index)).await?.into_inner();
        let id = job.name.rsplit('/').next().unwrap_or_default().to_owned();
        let mut commits = Vec::new();
        while commits.len() < 2 {
            let (payload, at) = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await
                .context("no signal of the job's commits")?
                .context("the listener stopped")?;
            if payload == id {
                commits.push(at);
            }
        }
        // The first few warm the runner up.
        if index >= 5 {
            delays.push(commits[1] - commits[0]);
        }
    }
    stamping.abort();
    Ok(Samples::new(delays))
}

/// Pickup delays of `count` jobs started one at a time (the runner's own clock), where there
/// are no signals (SQLite).
async fn pickups_from_timestamps(count: usize) -> anyhow::Result<Samples> {
    let suite = runner_suite().await?;
    let mut runner = JobRunnerClient::new(suite.book_runner.channel().await?);
    let mut jobs = JobServiceClient::new(suite.book_runner.channel().await?);
    let mut delays = Vec::new();
    for index in 0..count + 5 {
        let job = runner.start_job(start_request(index)).await?.into_inner();
        loop {
            let current = jobs
                .get_job(GetJobRequest {
                    name: job.name.clone(),
                })
                .await?
                .into_inner();
            let step_started = current.steps.first().and_then(|s| s.start_time.as_ref());
            if let (Some(created), Some(started)) = (current.create_time.as_ref(), step_started) {
                if index >= 5 {
                    let delay = (seconds(started) - seconds(created)).max(0.0);
                    delays.push(Duration::from_secs_f64(delay));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(Samples::new(delays))
}

/// Round trips of a notification from one connection to another and back.
async fn ping_pong(url: &str, count: usize) -> anyhow::Result<Samples> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    let mut pings = PgListener::connect(url).await?;
    pings.listen("eyrie_bench_ping").await?;
    let mut pongs = PgListener::connect(url).await?;
    pongs.listen("eyrie_bench_pong").await?;
    let answerer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            while pings.recv().await.is_ok() {
                if pool.execute("NOTIFY eyrie_bench_pong").await.is_err() {
                    break;
                }
            }
        })
    };
    let mut trips = Vec::new();
    for index in 0..count + 5 {
        let started = Instant::now();
        pool.execute("NOTIFY eyrie_bench_ping").await?;
        pongs.recv().await?;
        if index >= 5 {
            trips.push(started.elapsed());
        }
    }
    answerer.abort();
    Ok(Samples::new(trips))
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let Some(url) = database_url() else {
        let delays = pickups_from_timestamps(scale.jobs.min(200)).await?;
        return Ok(vec![Row {
            id: "B4",
            what: "job pickup delay p99, SQLite".into(),
            value: ms(delays.p99()),
            floor: "n/a (LISTEN/NOTIFY needs PostgreSQL)".into(),
            ratio: "—".into(),
            target: "—".into(),
        }]);
    };
    let delays = pickups_from_signals(&url, scale.jobs.min(200)).await?;
    let floor = ping_pong(&url, scale.jobs.min(200)).await?;
    let p99 = ratio(delays.p99(), floor.p99());
    let met = p99 <= 2.0 && delays.p99() <= Duration::from_millis(20);
    Ok(vec![Row {
        id: "B4",
        what: format!(
            "job pickup delay (StartJob's commit → the claim's commit, first step running; \
             both seen on the runner's signals), p99 (p50 {})",
            ms(delays.p50())
        ),
        value: ms(delays.p99()),
        floor: format!("LISTEN/NOTIFY ping-pong p99 {}", ms(floor.p99())),
        ratio: format!("{p99:.2}x"),
        target: format!("≤ 2x and ≤ 20 ms: {}", verdict(met)),
    }])
}
