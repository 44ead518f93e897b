//! Replicas on one PostgreSQL hear each other's jobs as they commit: a job queued through one
//! replica wakes an idle worker of another, and a watcher connected to a replica that does not
//! run the job sees its events at once. Both replicas poll only once an hour here, so nothing
//! but the database's signals can make the job run and reach the watcher within the test's
//! minute. For the same reason, jobs queued while no worker listened are found only by the
//! claims themselves.

use std::time::{Duration, Instant};

use eyrie_book_runner_svc::{BookRunnerSvc, Settings, config::RunnerSettings};
use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::{
    internal::v1::job_runner_client::JobRunnerClient,
    v1::{JobStatus, job_service_client::JobServiceClient},
};

use crate::harness::{collect_events, final_status, sequences, start_request};

const ONE_STEP_BOOK: &str = r#"
name: one-step
type: none
steps:
  - name: Apply
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ deployment.slug }}, namespace: {{ namespace }}}
"#;

/// Longer than the test: a look on this timer cannot be what found the job.
const POLL: Duration = Duration::from_secs(3600);

fn settings(database: &DatabaseSettings, root: &std::path::Path, workers: usize) -> Settings {
    Settings {
        server: ServerSettings::loopback_any_port(),
        database: database.clone(),
        runner: RunnerSettings {
            workers,
            poll_interval: POLL,
            directory_root: root.to_path_buf(),
            ..RunnerSettings::default()
        },
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_job_queued_on_one_replica_runs_on_another_and_its_events_reach_the_first_at_once() {
    let Some(database) = eyrie_platform::testing::postgres_test_database() else {
        eprintln!("skipped: replicas signal each other through PostgreSQL only");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    // The replica that receives the StartJob runs no jobs; the other one is idle.
    let receiving = TestServer::start::<BookRunnerSvc>(settings(&database, root.path(), 0))
        .await
        .unwrap();
    let working = TestServer::start::<BookRunnerSvc>(settings(&database, root.path(), 1))
        .await
        .unwrap();
    let book = crate::harness::add_book_to(&database, ONE_STEP_BOOK).await;
    let started = Instant::now();
    let job = JobRunnerClient::new(receiving.channel().await.unwrap())
        .start_job(start_request(&book, "signals-1", "none", &[]))
        .await
        .unwrap()
        .into_inner();

    // Watched through the replica that does not run it; bounded by a minute.
    let jobs = JobServiceClient::new(receiving.channel().await.unwrap());
    let events = collect_events(jobs, &job.name, 0).await;
    println!(
        "queued on one replica, run on the other, every event seen on the first: {:?}",
        started.elapsed()
    );
    assert_eq!(
        final_status(&events),
        Some(JobStatus::Succeeded),
        "{events:#?}"
    );
    let count = events.len() as u64;
    assert_eq!(sequences(&events), (1..=count).collect::<Vec<_>>());
    assert!(
        root.path().join("c1").exists(),
        "the working replica applied the step"
    );
    working.stop().await.unwrap();
    receiving.stop().await.unwrap();
}

/// Jobs queued while no worker listened (here: before the only one started) are all run, one
/// after the other: each claim tells whether another job waits, and the worker then looks
/// again at once. Nothing else could find them within the hour the timer waits.
#[tokio::test]
async fn jobs_queued_while_no_worker_listened_are_all_run_by_the_next_worker() {
    let dir = tempfile::tempdir().unwrap();
    let databases = crate::harness::databases(&dir);
    for database in databases {
        let backend = eyrie_platform::testing::describe(&database);
        let root = tempfile::tempdir().unwrap();
        let book = crate::harness::add_book_to(&database, ONE_STEP_BOOK).await;
        let queuing = TestServer::start::<BookRunnerSvc>(settings(&database, root.path(), 0))
            .await
            .unwrap();
        let mut runner = JobRunnerClient::new(queuing.channel().await.unwrap());
        let mut names = Vec::new();
        for n in 1..=3 {
            let request = start_request(&book, &format!("queued-{n}"), "none", &[]);
            names.push(runner.start_job(request).await.unwrap().into_inner().name);
        }
        queuing.stop().await.unwrap();

        let working = TestServer::start::<BookRunnerSvc>(settings(&database, root.path(), 1))
            .await
            .unwrap();
        let jobs = JobServiceClient::new(working.channel().await.unwrap());
        for name in &names {
            // Bounded by a minute.
            let events = collect_events(jobs.clone(), name, 0).await;
            assert_eq!(
                final_status(&events),
                Some(JobStatus::Succeeded),
                "{backend}: {name}: {events:#?}"
            );
        }
        working.stop().await.unwrap();
    }
}
