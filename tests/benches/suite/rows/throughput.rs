//! B3: jobs per second for a one-step book on the `directory` driver with 8 workers, against the
//! fair floor (`fair_floor`: the same jobs' four transactions in hand-written SQL) on the same
//! PostgreSQL at the same concurrency. For context, the bare claim-and-complete loop (`SELECT …
//! FOR UPDATE SKIP LOCKED`, no job created, nothing reported); and, without a target, the same
//! with `synchronous_commit` off, and on SQLite.

use std::time::{Duration, Instant};

use eyrie_proto::{
    internal::v1::{GetJobOutcomesRequest, StartJobRequest, job_runner_client::JobRunnerClient},
    v1::{self as pb, BookPhase, OperationAction, book_service_client::BookServiceClient},
};
use eyrie_tests::{EveryService, Suite, SuiteConfig, TestDatabase, auth::with_token};
use sqlx::{AssertSqlSafe, Connection as _, PgPool, postgres::PgPoolOptions};

use crate::{
    Scale,
    report::{Row, verdict},
};

pub const WORKERS: usize = 8;
const BOOK: &str = "name: bench-one-step\ntype: none\nsteps:\n  - name: Apply\n    uses: k8s.apply\n    with:\n      manifest: |\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: {{ deployment.slug }}, namespace: {{ namespace }}}\n        data: {revision: {{ revision | string }}}\n";

/// The PostgreSQL database the suite runs on, if it runs on one.
pub fn database_url() -> Option<String> {
    std::env::var("EYRIE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A suite whose runner has `WORKERS` workers, with the one-step book created.
pub async fn runner_suite() -> anyhow::Result<Suite> {
    runner_suite_on(TestDatabase::FromEnvironment).await
}

/// [`runner_suite`] on `database`.
async fn runner_suite_on(database: TestDatabase) -> anyhow::Result<Suite> {
    let suite = Suite::start_with_every(
        SuiteConfig {
            runner: format!("workers = {WORKERS}"),
            gateway: "[limits]\nrequests_per_second = 0.0\n".into(),
        },
        EveryService {
            database,
            ..EveryService::default()
        },
    )
    .await?;
    BookServiceClient::new(suite.gateway_channel().await?)
        .create_book(with_token(
            &suite.admin_token,
            pb::CreateBookRequest {
                book_id: "bench-one-step".into(),
                content: Some(pb::create_book_request::Content::Source(pb::BookSource {
                    format: pb::BookFormat::Yaml.into(),
                    text: BOOK.into(),
                })),
                ..Default::default()
            },
        ))
        .await?;
    Ok(suite)
}

/// StartJob of the one-step book for the sample deployment.
pub fn start_request(index: usize) -> StartJobRequest {
    StartJobRequest {
        request_id: format!("bench-{index}-{}", uuid_like()),
        snapshot: Some(eyrie_platform::testing::sample_deployment_snapshot(
            "none",
            "c1",
            &[],
        )),
        action: OperationAction::Deploy.into(),
        phase: BookPhase::Deploy.into(),
        book: "books/bench-one-step".into(),
        operation: format!("op-{index}"),
        ..Default::default()
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Transactions committed so far in the suite's database (PostgreSQL's statistics, which lag
/// by up to a second: callers wait before reading).
async fn commits(url: &str) -> anyhow::Result<i64> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let (commits,): (i64,) = sqlx::query_as(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut connection)
    .await?;
    Ok(commits)
}

/// Commits per job while `work` runs `jobs` jobs: what a job costs the database.
async fn commits_per_job<F: std::future::Future<Output = anyhow::Result<f64>>>(
    url: &str,
    jobs: usize,
    work: F,
) -> anyhow::Result<(f64, f64)> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = commits(url).await?;
    let rate = work.await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = commits(url).await?;
    Ok((rate, (after - before) as f64 / jobs as f64))
}

/// CPU time so far of book-runner-svc, deployment-svc and every PostgreSQL process.
fn cpu_split(suite: &Suite) -> [Duration; 3] {
    [
        super::cpu::of_process(suite.book_runner.pid()),
        super::cpu::of_process(suite.deployment.pid()),
        super::cpu::of_processes_named("postgres"),
    ]
}

/// Jobs per second for `jobs` one-step jobs queued at once.
async fn jobs_per_second(suite: &Suite, jobs: usize) -> anyhow::Result<f64> {
    let mut runner = JobRunnerClient::new(suite.book_runner.channel().await?);
    let started = Instant::now();
    let mut names = Vec::with_capacity(jobs);
    for index in 0..jobs {
        names.push(
            runner
                .start_job(start_request(index))
                .await?
                .into_inner()
                .name,
        );
    }
    // Done when every job has an end (at most 1000 names per call). Only the jobs still running
    // are asked for again, so the benchmark's own reads stay small beside the jobs' work.
    let mut running = names;
    while !running.is_empty() {
        let mut still_running = Vec::new();
        for batch in running.chunks(1000) {
            let outcomes = runner
                .get_job_outcomes(GetJobOutcomesRequest {
                    jobs: batch.to_vec(),
                })
                .await?
                .into_inner();
            still_running.extend(outcomes.unknown_jobs);
            still_running.extend(
                outcomes
                    .outcomes
                    .into_iter()
                    .filter(|o| o.end_time.is_none())
                    .map(|o| o.job),
            );
        }
        running = still_running;
        if !running.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Jobs per second on a new suite on `database`, after a warm-up.
async fn rate_on_new_suite(database: TestDatabase, jobs: usize) -> anyhow::Result<f64> {
    let suite = runner_suite_on(database).await?;
    jobs_per_second(&suite, WORKERS).await?;
    jobs_per_second(&suite, jobs).await
}

/// The floor: claim and complete `jobs` rows with `WORKERS` connections, as a queue at its
/// barest (two transactions a job, as a runner claims then completes).
async fn bare_loop(url: &str, jobs: usize) -> anyhow::Result<f64> {
    let pool = PgPoolOptions::new()
        .max_connections(WORKERS as u32)
        .connect(url)
        .await?;
    let schema = format!("bench_{}", uuid_like());
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.queue (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL)"
    )))
    .execute(&pool)
    .await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO {schema}.queue (state) SELECT 'queued' FROM generate_series(1, {jobs})"
    )))
    .execute(&pool)
    .await?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let pool = pool.clone();
        let schema = schema.clone();
        workers.push(tokio::spawn(async move {
            claim_until_empty(&pool, &schema).await
        }));
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

async fn claim_until_empty(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    let claim = format!(
        "UPDATE {schema}.queue SET state = 'running' WHERE id = (SELECT id FROM {schema}.queue \
         WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
    );
    let complete = format!("UPDATE {schema}.queue SET state = 'done' WHERE id = $1");
    let mut connection = pool.acquire().await?;
    loop {
        let mut transaction = connection.begin().await?;
        let claimed: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(claim.clone()))
            .fetch_optional(&mut *transaction)
            .await?;
        transaction.commit().await?;
        let Some((id,)) = claimed else {
            return Ok(());
        };
        sqlx::query(AssertSqlSafe(complete.clone()))
            .bind(id)
            .execute(&mut *connection)
            .await?;
    }
}

/// Sets `synchronous_commit` for new connections to the suite's database.
async fn set_synchronous_commit(url: &str, on: bool) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let (database,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut connection)
        .await?;
    let statement = if on {
        format!("ALTER DATABASE \"{database}\" RESET synchronous_commit")
    } else {
        format!("ALTER DATABASE \"{database}\" SET synchronous_commit = off")
    };
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut connection)
        .await?;
    Ok(())
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let suite = runner_suite().await?;
    // Warm-up: the first jobs pay for connections and the book cache.
    jobs_per_second(&suite, WORKERS).await?;
    let Some(url) = database_url() else {
        let eyrie = jobs_per_second(&suite, scale.jobs).await?;
        return Ok(vec![Row {
            id: "B3",
            what: format!("one-step jobs per second, {WORKERS} workers, SQLite"),
            value: format!("{eyrie:.1} jobs/s"),
            floor: "n/a (the bare loop needs PostgreSQL)".into(),
            ratio: "—".into(),
            target: "—".into(),
        }]);
    };
    let cpu_before = cpu_split(&suite);
    let (eyrie, eyrie_commits) =
        commits_per_job(&url, scale.jobs, jobs_per_second(&suite, scale.jobs)).await?;
    let cpu_after = cpu_split(&suite);
    drop(suite);
    let per_job = |index: usize| {
        let spent = cpu_after[index].saturating_sub(cpu_before[index]);
        format!("{:.0} µs", spent.as_secs_f64() * 1e6 / scale.jobs as f64)
    };
    let floor_jobs = scale.jobs * 2;
    let (floor, floor_commits) = commits_per_job(
        &url,
        floor_jobs,
        super::fair_floor::jobs_per_second(&url, floor_jobs),
    )
    .await?;
    let bare_jobs = scale.jobs * 4;
    let (bare, bare_commits) = commits_per_job(&url, bare_jobs, bare_loop(&url, bare_jobs)).await?;
    let mut rows = vec![Row {
        id: "B3",
        what: format!("one-step jobs per second (`directory` driver), {WORKERS} workers"),
        value: format!("{eyrie:.1} jobs/s"),
        floor: format!(
            "fair floor (create, claim + start, end, acknowledge; hand-written SQL) {floor:.1} \
             jobs/s"
        ),
        ratio: format!("{:.2}x", eyrie / floor),
        target: format!("≥ 0.5x: {}", verdict(eyrie / floor >= 0.5)),
    }];
    rows.push(Row {
        id: "B3 context",
        what: "the fair floor against the bare SKIP LOCKED claim + complete loop (no target)"
            .into(),
        value: format!("{floor:.1} jobs/s"),
        floor: format!("bare loop {bare:.1} jobs/s"),
        ratio: format!("{:.2}x", floor / bare),
        target: "—".into(),
    });
    rows.push(Row {
        id: "B3 profile",
        what: "CPU time per job: book-runner-svc / deployment-svc / PostgreSQL (all backends)"
            .into(),
        value: format!("{} / {} / {}", per_job(0), per_job(1), per_job(2)),
        floor: "—".into(),
        ratio: "—".into(),
        target: "—".into(),
    });
    rows.push(Row {
        id: "B3 profile",
        what: "PostgreSQL commits per job (all services; pg_stat_database)".into(),
        value: format!("{eyrie_commits:.1}"),
        floor: format!("fair floor {floor_commits:.1}; bare loop {bare_commits:.1}"),
        ratio: format!("{:.1}x", eyrie_commits / floor_commits.max(0.1)),
        target: "—".into(),
    });
    // How much of a job is the disk: the same with commits not waiting for the WAL flush.
    set_synchronous_commit(&url, false).await?;
    let without_flush = rate_on_new_suite(TestDatabase::FromEnvironment, scale.jobs).await;
    set_synchronous_commit(&url, true).await?;
    let without_flush = without_flush?;
    rows.push(Row {
        id: "B3'",
        what: "the same with `synchronous_commit = off` (no target)".into(),
        value: format!("{without_flush:.1} jobs/s"),
        floor: format!("on: {eyrie:.1} jobs/s"),
        ratio: format!("{:.2}x", without_flush / eyrie),
        target: "—".into(),
    });
    let on_sqlite = rate_on_new_suite(TestDatabase::Sqlite, scale.jobs).await?;
    rows.push(Row {
        id: "B3''",
        what: "the same on SQLite, every service on its own file (no target)".into(),
        value: format!("{on_sqlite:.1} jobs/s"),
        floor: format!("PostgreSQL: {eyrie:.1} jobs/s"),
        ratio: format!("{:.2}x", on_sqlite / eyrie),
        target: "—".into(),
    });
    Ok(rows)
}
