//! B4: job pickup delay, from StartJob's commit to the first step starting, against a bare
//! LISTEN/NOTIFY ping-pong between two PostgreSQL connections.

use std::time::{Duration, Instant};

use eyrie_proto::{
    internal::v1::job_runner_client::JobRunnerClient,
    v1::{GetJobRequest, job_service_client::JobServiceClient},
};
use sqlx::{Executor as _, postgres::PgListener};

use super::throughput::{database_url, runner_suite, start_request};
use crate::{
    Scale,
    report::{Row, verdict},
    stats::{Samples, ms, ratio},
};

fn seconds(t: &prost_types::Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

/// Pickup delays of `count` jobs started one at a time (the runner's own clock).
async fn pickups(count: usize) -> anyhow::Result<Samples> {
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
                // The first few warm the runner up.
                if index >= 5 {
                    let delay = (seconds(started) - seconds(created)).max(0.0);
                    delays.push(Duration::from_secs_f64(delay));
                }
                break;
            }
            // The probe reads the runner's own timestamps, so its pace only decides how much it
            // loads the runner it measures: a few milliseconds keeps that small.
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
    let delays = pickups(scale.jobs.min(200)).await?;
    let Some(url) = database_url() else {
        return Ok(vec![Row {
            id: "B4",
            what: "job pickup delay p99, SQLite".into(),
            value: ms(delays.p99()),
            floor: "n/a (LISTEN/NOTIFY needs PostgreSQL)".into(),
            ratio: "—".into(),
            target: "—".into(),
        }]);
    };
    let floor = ping_pong(&url, scale.jobs.min(200)).await?;
    let p99 = ratio(delays.p99(), floor.p99());
    let met = p99 <= 2.0 && delays.p99() <= Duration::from_millis(20);
    Ok(vec![Row {
        id: "B4",
        what: format!(
            "job pickup delay (StartJob committed → first step started), p99 (p50 {})",
            ms(delays.p50())
        ),
        value: ms(delays.p99()),
        floor: format!("LISTEN/NOTIFY ping-pong p99 {}", ms(floor.p99())),
        ratio: format!("{p99:.2}x"),
        target: format!("≤ 2x and ≤ 20 ms: {}", verdict(met)),
    }])
}
