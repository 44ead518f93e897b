//! Job throughput and pickup delay of book-runner-svc on PostgreSQL, with a baseline measured in
//! the same run (machines here are noisy: ratios hold, absolute times drift).
//!
//! `EYRIE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/eyrie_bench cargo bench -p eyrie-book-runner-svc --bench jobs`

use std::time::{Duration, Instant};

use eyrie_book_runner_svc::{
    BookRunnerSvc, Settings,
    config::RunnerSettings,
    domain::{
        book::{BookFormat, BookSpec},
        books::{BookName, NewBook},
    },
    store::{books::SeaBookStore, migration::Migrator},
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, fresh_schema_name, sample_deployment_snapshot},
};
use eyrie_proto::{
    internal::v1::{
        ListRunningJobCountsRequest, StartJobRequest, job_runner_client::JobRunnerClient,
    },
    v1::{BookPhase, GetJobRequest, OperationAction, job_service_client::JobServiceClient},
};

const JOBS: usize = 300;
const WORKERS: usize = 8;
const BOOK: &str = "name: bench-one-step\ntype: none\nsteps:\n  - name: Apply\n    uses: k8s.apply\n    with:\n      manifest: |\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: \"{{ deployment.slug }}\", namespace: \"{{ namespace }}\"}\n        data: {revision: \"{{ revision }}\"}\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(url) = std::env::var("EYRIE_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("set EYRIE_BENCH_DATABASE_URL to a PostgreSQL database to run this benchmark");
        return Ok(());
    };
    let database = DatabaseSettings {
        schema: Some(fresh_schema_name()),
        max_connections: 16,
        ..DatabaseSettings::with_url(url)
    };
    let root = tempfile::tempdir()?;
    let settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: database.clone(),
        runner: RunnerSettings {
            workers: WORKERS,
            directory_root: root.path().to_path_buf(),
            ..RunnerSettings::default()
        },
        ..Settings::default()
    };
    let server = TestServer::start::<BookRunnerSvc>(settings).await?;
    let books =
        SeaBookStore::new(eyrie_platform::db::connect_and_migrate::<Migrator>(&database).await?);
    let spec = BookSpec::parse(BookFormat::Yaml, BOOK)?;
    books
        .create(&NewBook {
            name: BookName::global(spec.name.clone()),
            spec,
        })
        .await?;
    let channel = server.channel().await?;
    let mut runner = JobRunnerClient::new(channel.clone());
    let mut jobs = JobServiceClient::new(channel);

    let request = |index: usize| StartJobRequest {
        request_id: format!("bench-{index}"),
        snapshot: Some(sample_deployment_snapshot("none", "c1", &[])),
        action: OperationAction::Deploy.into(),
        phase: BookPhase::Deploy.into(),
        book: "books/bench-one-step".into(),
        operation: format!("op-{index}"),
        ..Default::default()
    };

    // Pickup delay: one job at a time, from its JobQueued event to its JobStarted event (both
    // stamped by the runner), against a GetJob round trip measured in the same run.
    let mut pickups = Vec::new();
    let mut round_trips = Vec::new();
    for index in 0..100 {
        let job = runner
            .start_job(request(1_000_000 + index))
            .await?
            .into_inner();
        loop {
            let started = Instant::now();
            let current = jobs
                .get_job(GetJobRequest {
                    name: job.name.clone(),
                })
                .await?
                .into_inner();
            round_trips.push(started.elapsed());
            if let (Some(created), Some(start)) = (current.create_time, current.start_time) {
                let delay = (start.seconds - created.seconds) as f64
                    + f64::from(start.nanos - created.nanos) / 1e9;
                pickups.push(Duration::from_secs_f64(delay.max(0.0)));
                break;
            }
        }
    }

    // Throughput: JOBS one-step jobs queued at once, run by WORKERS workers.
    let started = Instant::now();
    for index in 0..JOBS {
        runner.start_job(request(index)).await?;
    }
    loop {
        let counts = runner
            .list_running_job_counts(ListRunningJobCountsRequest {
                deployments: vec![eyrie_platform::testing::SAMPLE_DEPLOYMENT.into()],
            })
            .await?
            .into_inner();
        if counts.counts.iter().all(|c| c.count == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();

    let p = |samples: &mut Vec<Duration>, q: f64| {
        samples.sort();
        samples[((samples.len() - 1) as f64 * q) as usize]
    };
    let round_trip_p50 = p(&mut round_trips, 0.5);
    println!("| measure | value | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| job pickup p50 (JobQueued to JobStarted) | {:?} | GetJob round trip p50 {:?} | {:.2}x |",
        p(&mut pickups, 0.5),
        round_trip_p50,
        p(&mut pickups, 0.5).as_secs_f64() / round_trip_p50.as_secs_f64()
    );
    println!("| job pickup p99 | {:?} | | |", p(&mut pickups, 0.99));
    println!(
        "| throughput, {JOBS} one-step jobs, {WORKERS} workers | {:.1} jobs/s | | |",
        JOBS as f64 / elapsed.as_secs_f64()
    );
    server.stop().await?;
    Ok(())
}
