//! Retention: finished jobs go, by age and by count per deployment, with their steps, events and
//! logs, in batches; queued and running jobs, outcomes still owed to deployment-svc and each
//! deployment's newest finished job stay. Every pass is given its `now`: no test waits.

use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use eyrie_book_runner_svc::{
    config::RetentionSettings,
    domain::{
        book::{BookFormat, BookSpec},
        job::{EventKind, JobStatus, NewJob},
    },
    store::{
        jobs::{Entry, Pruned, Retention, SeaJobStore},
        migration::Migrator,
    },
};
use eyrie_platform::{
    DatabaseSettings,
    testing::{describe, test_databases},
};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::harness::start_request;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn days(count: i64) -> chrono::Duration {
    chrono::Duration::days(count)
}

fn deployment(slug: &str) -> String {
    format!("projects/sample/groups/sample/deployments/{slug}")
}

fn new_job(id: &str, deployment: &str) -> NewJob {
    let book = BookSpec::parse(
        BookFormat::Yaml,
        "name: two\ntype: none\nsteps:\n  - {name: One, uses: k8s.wait, with: {api_version: v1, kind: Pod, name: p, condition: exists}}\n  - {name: Two, uses: k8s.wait, with: {api_version: v1, kind: Pod, name: q, condition: exists}}\n",
    )
    .unwrap();
    let operation = format!("{deployment}/operations/{id}");
    let mut job = NewJob::sample(&operation, book);
    job.snapshot.deployment.name = deployment.to_owned();
    job.operation = operation;
    job
}

/// Where a test job is left.
#[derive(Clone, Copy)]
enum Left {
    Queued,
    Running,
    /// Ended at the time given, its outcome acknowledged by deployment-svc or still owed.
    Ended {
        at: DateTime<Utc>,
        acknowledged: bool,
    },
}

fn ended(at: DateTime<Utc>) -> Left {
    Left::Ended {
        at,
        acknowledged: true,
    }
}

/// Stores job `id` of `deployment` and takes it to `left`, with log lines. Jobs are claimed as
/// they are made, so queued ones must come after the others.
async fn make(store: &SeaJobStore, id: &str, deployment: &str, left: Left, now: DateTime<Utc>) {
    let created = match left {
        Left::Ended { at, .. } => at - chrono::Duration::hours(1),
        _ => now - days(60),
    };
    store
        .create(id, &new_job(id, deployment), created)
        .await
        .unwrap();
    if matches!(left, Left::Queued) {
        return;
    }
    let claim = store
        // A lease longer than any test's span: a running job is never taken over by the claim
        // of a job made after it.
        .claim("worker", 1000 * DAY, created)
        .await
        .unwrap()
        .expect("claimable");
    assert_eq!(claim.job.id, id, "the job just made is the one claimed");
    let Left::Ended { at, acknowledged } = left else {
        return;
    };
    store
        .record(
            &claim.lease,
            vec![
                Entry::Log {
                    step_index: 0,
                    attempt: 1,
                    line: "first line".into(),
                },
                Entry::Log {
                    step_index: 0,
                    attempt: 1,
                    line: "second line".into(),
                },
                Entry::Event(EventKind::StepSkipped {
                    step_index: 1,
                    reason: String::new(),
                }),
                Entry::Finish {
                    status: JobStatus::Failed,
                    message: "failed".into(),
                },
            ],
            at,
        )
        .await
        .unwrap();
    if acknowledged {
        store.reports_acknowledged(&[id.to_owned()]).await.unwrap();
    }
}

/// Rows of job `id` in each of its tables: jobs, job_steps, job_events, step_logs.
async fn rows(store: &SeaJobStore, id: &str) -> [i64; 4] {
    let db = store.connection();
    let mut counts = [0; 4];
    for (count, (table, column)) in counts.iter_mut().zip([
        ("jobs", "id"),
        ("job_steps", "job_id"),
        ("job_events", "job_id"),
        ("step_logs", "job_id"),
    ]) {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{id}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        *count = row.try_get::<i64>("", "n").unwrap();
    }
    counts
}

async fn kept(store: &SeaJobStore, id: &str) -> bool {
    store.get(id).await.unwrap().is_some()
}

async fn store_on(settings: &DatabaseSettings) -> SeaJobStore {
    SeaJobStore::new(
        eyrie_platform::db::connect_and_migrate::<Migrator>(settings)
            .await
            .unwrap(),
    )
}

fn by_age(max_age: Duration) -> Retention {
    Retention {
        max_age: Some(max_age),
        keep_per_deployment: None,
        batch_size: 100,
    }
}

fn by_count(keep: u32) -> Retention {
    Retention {
        max_age: None,
        keep_per_deployment: Some(keep),
        batch_size: 100,
    }
}

#[tokio::test]
async fn old_finished_jobs_go_with_all_their_rows_and_the_others_stay() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let store = store_on(&settings).await;
        let now = Utc::now().trunc_subsecs(6);
        let (a, b) = (deployment("a"), deployment("b"));
        make(&store, "0001", &a, ended(now - days(40)), now).await;
        make(&store, "0002", &a, ended(now - days(35)), now).await;
        // A's newest finished job: old, but the one its latest operation may retry.
        make(&store, "0003", &a, ended(now - days(31)), now).await;
        // B: an old outcome still owed to deployment-svc, a running and a queued job created
        // long ago, and a recent finished job.
        let owed = Left::Ended {
            at: now - days(40),
            acknowledged: false,
        };
        make(&store, "0011", &b, owed, now).await;
        make(&store, "0012", &b, Left::Running, now).await;
        make(&store, "0014", &b, ended(now - days(1)), now).await;
        make(&store, "0013", &b, Left::Queued, now).await;
        let before = rows(&store, "0001").await;
        assert!(
            before.iter().all(|count| *count > 0),
            "{backend}: the job has rows in every table: {before:?}"
        );

        let pruned = store.prune(&by_age(30 * DAY), now).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                by_age: 2,
                ..Pruned::default()
            },
            "{backend}"
        );
        for gone in ["0001", "0002"] {
            assert_eq!(rows(&store, gone).await, [0; 4], "{backend}: {gone}");
        }
        for stays in ["0003", "0011", "0012", "0013", "0014"] {
            assert!(kept(&store, stays).await, "{backend}: {stays} must stay");
        }
        assert_eq!(
            rows(&store, "0011").await[3],
            2,
            "{backend}: a kept job keeps its logs"
        );

        // Once deployment-svc acknowledged the outcome, the job goes at the next pass; a pass
        // repeated changes nothing.
        store
            .reports_acknowledged(&["0011".to_owned()])
            .await
            .unwrap();
        let pruned = store.prune(&by_age(30 * DAY), now).await.unwrap();
        assert_eq!(pruned.by_age, 1, "{backend}");
        assert!(!kept(&store, "0011").await, "{backend}");
        let pruned = store.prune(&by_age(30 * DAY), now).await.unwrap();
        assert_eq!(pruned, Pruned::default(), "{backend}");
        for stays in ["0003", "0012", "0013", "0014"] {
            assert!(kept(&store, stays).await, "{backend}: {stays} must stay");
        }
    }
}

#[tokio::test]
async fn the_count_keeps_the_newest_finished_jobs_of_each_deployment() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let store = store_on(&settings).await;
        let now = Utc::now().trunc_subsecs(6);
        let (a, b) = (deployment("a"), deployment("b"));
        for (index, id) in ["0001", "0002", "0003", "0004", "0005"].iter().enumerate() {
            let at = now - days(10) + days(i64::try_from(index).unwrap());
            let left = if *id == "0002" {
                // Beyond the count, but its outcome is still owed.
                Left::Ended {
                    at,
                    acknowledged: false,
                }
            } else {
                ended(at)
            };
            make(&store, id, &a, left, now).await;
        }
        make(&store, "0011", &b, ended(now - days(9)), now).await;
        make(&store, "0012", &b, ended(now - days(8)), now).await;
        make(&store, "0006", &a, Left::Running, now).await;
        // Queued and running jobs are not counted, nor deleted.
        make(&store, "0007", &a, Left::Queued, now).await;

        let pruned = store.prune(&by_count(3), now).await.unwrap();
        assert_eq!(pruned.by_count, 1, "{backend}: {pruned:?}");
        assert_eq!(rows(&store, "0001").await, [0; 4], "{backend}");
        for stays in [
            "0002", "0003", "0004", "0005", "0006", "0007", "0011", "0012",
        ] {
            assert!(kept(&store, stays).await, "{backend}: {stays} must stay");
        }

        // A count of 0 still keeps each deployment's newest finished job.
        store
            .reports_acknowledged(&["0002".to_owned()])
            .await
            .unwrap();
        let pruned = store.prune(&by_count(0), now).await.unwrap();
        assert_eq!(pruned.by_count, 4, "{backend}: {pruned:?}");
        for stays in ["0005", "0006", "0007", "0012"] {
            assert!(kept(&store, stays).await, "{backend}: {stays} must stay");
        }
        for gone in ["0002", "0003", "0004", "0011"] {
            assert!(!kept(&store, gone).await, "{backend}: {gone} must go");
        }
    }
}

#[tokio::test]
async fn disabled_rules_delete_nothing() {
    let disabled = Retention::from(&RetentionSettings {
        keep_finished_for: Duration::ZERO,
        keep_finished_per_deployment: 0,
        ..RetentionSettings::default()
    });
    assert!(disabled.is_disabled());
    let defaults = Retention::from(&RetentionSettings::default());
    assert_eq!(
        defaults,
        Retention {
            max_age: Some(30 * DAY),
            keep_per_deployment: Some(100),
            batch_size: 100,
        }
    );
    for settings in test_databases() {
        let backend = describe(&settings);
        let store = store_on(&settings).await;
        let now = Utc::now().trunc_subsecs(6);
        let a = deployment("a");
        for (index, id) in ["0001", "0002", "0003"].iter().enumerate() {
            let at = now - days(10) + days(i64::try_from(index).unwrap());
            make(&store, id, &a, ended(at), now).await;
        }
        // Disabled, nothing goes however old the jobs get.
        let pruned = store.prune(&disabled, now + days(1000)).await.unwrap();
        assert_eq!(pruned, Pruned::default(), "{backend}");
        // The defaults keep 30 days and 100 jobs: nothing goes yet.
        let pruned = store.prune(&defaults, now).await.unwrap();
        assert_eq!(pruned, Pruned::default(), "{backend}");
        for id in ["0001", "0002", "0003"] {
            assert!(kept(&store, id).await, "{backend}: {id}");
        }
    }
}

#[tokio::test]
async fn a_pass_over_more_jobs_than_one_batch_deletes_them_all() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let store = store_on(&settings).await;
        let now = Utc::now().trunc_subsecs(6);
        // By age: 11 old jobs of one deployment (the newest stays), in batches of 4.
        let a = deployment("a");
        for index in 0..11 {
            let at = now - days(100) + chrono::Duration::minutes(index);
            make(&store, &format!("a{index:03}"), &a, ended(at), now).await;
        }
        // By count: three deployments of 7 jobs each, keeping 2, in batches of 4 across them.
        for deployment_index in 0..3 {
            let name = deployment(&format!("c{deployment_index}"));
            for index in 0..7 {
                let at = now - days(1) + chrono::Duration::minutes(index);
                let id = format!("c{deployment_index}{index:02}");
                make(&store, &id, &name, ended(at), now).await;
            }
        }
        let rules = Retention {
            max_age: Some(30 * DAY),
            keep_per_deployment: Some(2),
            batch_size: 4,
        };
        let pruned = store.prune(&rules, now).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                by_age: 10,
                by_count: 15,
                contended: false,
            },
            "{backend}"
        );
        assert!(kept(&store, "a010").await, "{backend}");
        for deployment_index in 0..3 {
            for index in 0..7 {
                let id = format!("c{deployment_index}{index:02}");
                assert_eq!(kept(&store, &id).await, index >= 5, "{backend}: {id}");
            }
        }
        let again = store.prune(&rules, now).await.unwrap();
        assert_eq!(again, Pruned::default(), "{backend}");
    }
}

#[tokio::test]
async fn passes_that_overlap_delete_each_job_once() {
    for settings in test_databases() {
        let backend = describe(&settings);
        // Two replicas: two stores, each with its own connections, on one database.
        let first = store_on(&settings).await;
        let second = if settings.is_postgres() {
            store_on(&settings).await
        } else {
            first.clone()
        };
        let now = Utc::now().trunc_subsecs(6);
        let a = deployment("a");
        for index in 0..30 {
            let at = now - days(100) + chrono::Duration::minutes(index);
            make(&first, &format!("a{index:03}"), &a, ended(at), now).await;
        }
        let rules = Retention {
            max_age: Some(30 * DAY),
            keep_per_deployment: Some(5),
            batch_size: 3,
        };
        let (one, two) = tokio::join!(first.prune(&rules, now), second.prune(&rules, now));
        let (one, two) = (one.unwrap(), two.unwrap());
        // One may have found the other deleting (PostgreSQL) and left the rest to it; a later
        // pass finishes whatever that left.
        let last = first.prune(&rules, now).await.unwrap();
        assert_eq!(
            one.jobs() + two.jobs() + last.jobs(),
            29,
            "{backend}: {one:?} {two:?} {last:?}"
        );
        assert!(kept(&first, "a029").await, "{backend}");
        for index in 0..29 {
            assert!(!kept(&first, &format!("a{index:03}")).await, "{backend}");
        }
    }
}

/// A retry's start replayed after retention deleted the job it retries (no longer its
/// deployment's newest once the retry's job exists) gets the retry's job, not NOT_FOUND.
#[tokio::test]
async fn a_replayed_retry_start_gets_its_job_after_the_retried_job_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let databases = crate::harness::databases(&dir);
    for database in databases {
        let backend = describe(&database);
        let mut runner =
            crate::harness::start(database.clone(), tempfile::tempdir().unwrap()).await;
        let store = store_on(&database).await;
        let book = runner
            .add_book(
                "name: fails\ntype: none\nsteps:\n  - {name: Wait, uses: k8s.wait, with: {api_version: v1, kind: Pod, name: p, condition: exists}}\n",
            )
            .await;
        // A cluster without a path: the job fails at once.
        let unreachable = |request_id: &str| eyrie_proto::internal::v1::StartJobRequest {
            snapshot: Some(eyrie_platform::testing::sample_deployment_snapshot(
                "none",
                "",
                &[],
            )),
            ..start_request(&book, request_id, "none", &[])
        };
        let failed = runner
            .runner
            .start_job(unreachable("first"))
            .await
            .unwrap()
            .into_inner();
        runner.finished(&failed.name).await;
        let retry = eyrie_proto::internal::v1::StartJobRequest {
            retry_of: failed.name.clone(),
            resume_from_failed_step: true,
            ..unreachable("retry")
        };
        let retried = runner
            .runner
            .start_job(retry.clone())
            .await
            .unwrap()
            .into_inner();
        runner.finished(&retried.name).await;

        // This runner has no deployment-svc to report to: acknowledge by hand, then keep one.
        let id = |name: &str| name.rsplit('/').next().unwrap().to_owned();
        store
            .reports_acknowledged(&[id(&failed.name), id(&retried.name)])
            .await
            .unwrap();
        let pruned = store.prune(&by_count(1), Utc::now()).await.unwrap();
        assert_eq!(pruned.by_count, 1, "{backend}");
        assert!(!kept(&store, &id(&failed.name)).await, "{backend}");

        let replayed = runner.runner.start_job(retry).await.unwrap().into_inner();
        assert_eq!(replayed.name, retried.name, "{backend}");
        // A new retry of the deleted job is refused: it is gone.
        let fresh = eyrie_proto::internal::v1::StartJobRequest {
            retry_of: failed.name.clone(),
            resume_from_failed_step: true,
            ..unreachable("retry-2")
        };
        let refused = runner.runner.start_job(fresh).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::NotFound, "{backend}");
    }
}
