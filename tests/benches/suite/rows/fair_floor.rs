//! B3's floor: the smallest durable job a job engine can run, in hand-written SQL, in one
//! process, at B3's concurrency.
//!
//! A job is a row and its one step a row of its own, and it takes the four transactions any
//! durable engine needs: it is created (job and step together), claimed with its step started,
//! ended with its outcome to report, and that outcome acknowledged. One task creates the jobs
//! one after another, as B3 calls StartJob; `WORKERS` connections claim, end and acknowledge
//! them; idle workers wait on an in-process wake-up, not on the database. Each transaction is one
//! statement (data-modifying CTEs), so one round trip.

use std::{sync::Arc, time::Instant};

use sqlx::{AssertSqlSafe, PgPool, postgres::PgPoolOptions};
use tokio::sync::Notify;

use super::throughput::WORKERS;

/// Jobs per second of `jobs` floor jobs on the PostgreSQL database `url`.
pub async fn jobs_per_second(url: &str, jobs: usize) -> anyhow::Result<f64> {
    let pool = PgPoolOptions::new()
        .max_connections(WORKERS as u32 + 1)
        .connect(url)
        .await?;
    let schema = format!(
        "bench_floor_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    );
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL,
             outcome TEXT);
         CREATE INDEX ON {schema}.jobs (id) WHERE state = 'queued';
         CREATE TABLE {schema}.steps (job_id BIGINT PRIMARY KEY REFERENCES {schema}.jobs,
             state TEXT NOT NULL);"
    )))
    .execute(&pool)
    .await?;
    let queued = Arc::new(Notify::new());
    let started = Instant::now();
    let mut workers = Vec::new();
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(jobs));
    for _ in 0..WORKERS {
        let (pool, schema) = (pool.clone(), schema.clone());
        let (queued, remaining) = (queued.clone(), remaining.clone());
        workers.push(tokio::spawn(async move {
            work(&pool, &schema, &queued, &remaining).await
        }));
    }
    let create = format!(
        "WITH job AS (INSERT INTO {schema}.jobs (state) VALUES ('queued') RETURNING id) \
         INSERT INTO {schema}.steps (job_id, state) SELECT id, 'pending' FROM job"
    );
    for _ in 0..jobs {
        sqlx::query(AssertSqlSafe(create.clone()))
            .execute(&pool)
            .await?;
        queued.notify_one();
    }
    for worker in workers {
        worker.await??;
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await?;
    Ok(rate)
}

/// One worker: claims and runs jobs until all of them are done.
async fn work(
    pool: &PgPool,
    schema: &str,
    queued: &Notify,
    remaining: &std::sync::atomic::AtomicUsize,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    let claim = format!(
        "WITH job AS (UPDATE {schema}.jobs SET state = 'running' WHERE id = (SELECT id FROM \
         {schema}.jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING id) \
         UPDATE {schema}.steps SET state = 'running' FROM job WHERE steps.job_id = job.id \
         RETURNING job.id"
    );
    let end = format!(
        "WITH job AS (UPDATE {schema}.jobs SET state = 'succeeded', outcome = 'pending' \
         WHERE id = $1 RETURNING id) \
         UPDATE {schema}.steps SET state = 'succeeded' FROM job WHERE steps.job_id = job.id"
    );
    let acknowledge = format!("UPDATE {schema}.jobs SET outcome = 'acknowledged' WHERE id = $1");
    let mut connection = pool.acquire().await?;
    loop {
        // Registered before the claim, so a job queued meanwhile still wakes this worker.
        let mut woken = std::pin::pin!(queued.notified());
        woken.as_mut().enable();
        let claimed: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(claim.clone()))
            .fetch_optional(&mut *connection)
            .await?;
        let Some((id,)) = claimed else {
            if remaining.load(Ordering::SeqCst) == 0 {
                // Wake the others, which may be waiting for a job that will not come.
                queued.notify_waiters();
                return Ok(());
            }
            woken.await;
            continue;
        };
        sqlx::query(AssertSqlSafe(end.clone()))
            .bind(id)
            .execute(&mut *connection)
            .await?;
        sqlx::query(AssertSqlSafe(acknowledge.clone()))
            .bind(id)
            .execute(&mut *connection)
            .await?;
        if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            queued.notify_waiters();
            return Ok(());
        }
    }
}
