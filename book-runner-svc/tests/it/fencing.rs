//! A worker whose lease was taken over cannot write anything (fencing); what a lease lets it
//! write is stored as the claim and the records say.

use std::time::Duration;

use chrono::{SubsecRound as _, Utc};
use eyrie_book_runner_svc::{
    domain::{
        book::{BookFormat, BookSpec},
        job::{EventKind, JobStatus, NewJob, StepStatus},
    },
    store::{
        jobs::{Entry, MAX_LOG_LINES_PER_STEP, SeaJobStore, StartedStep, WriteError},
        migration::Migrator,
    },
};
use eyrie_platform::testing::{describe, test_databases};

fn new_job(request_id: &str) -> NewJob {
    let book = BookSpec::parse(
        BookFormat::Yaml,
        "name: one\ntype: none\nsteps:\n  - {name: Wait, uses: k8s.wait, with: {api_version: v1, kind: Pod, name: p, condition: exists}}\n",
    )
    .unwrap();
    NewJob::sample(request_id, book)
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_write() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        // Whole microseconds, as the databases keep them, so claimed and stored jobs compare.
        let now = Utc::now().trunc_subsecs(6);
        let (job, created) = store
            .create("0001fencing", &new_job("fencing-1"), now)
            .await
            .unwrap();
        assert!(created, "{backend}");

        let ttl = Duration::from_secs(5);
        let first = store
            .claim("worker-a", ttl, now)
            .await
            .unwrap()
            .expect("claimable");
        assert!(!first.takeover, "{backend}");
        assert_eq!(
            Some(&first.job),
            store.get(&job.id).await.unwrap().as_ref(),
            "{backend}: the claim returns the job as stored"
        );
        assert_eq!(first.job.status, JobStatus::Running, "{backend}");
        assert_eq!(
            first.started_step,
            Some(StartedStep {
                index: 0,
                attempt: 1
            }),
            "{backend}: the claim starts the first step"
        );
        assert!(
            store.claim("worker-b", ttl, now).await.unwrap().is_none(),
            "{backend}: leased jobs are not claimable"
        );

        // Worker A stalls past its lease; worker B takes the job over.
        let later = now + chrono::Duration::seconds(6);
        let second = store
            .claim("worker-b", ttl, later)
            .await
            .unwrap()
            .expect("expired lease");
        assert!(second.takeover, "{backend}");
        assert!(second.lease.epoch > first.lease.epoch, "{backend}");
        assert_eq!(
            second.started_step,
            Some(StartedStep {
                index: 0,
                attempt: 2
            }),
            "{backend}: the interrupted step runs again, as a new attempt"
        );

        let stale_write = store
            .record(
                &first.lease,
                vec![
                    Entry::Event(EventKind::StepStarted {
                        step_index: 0,
                        attempt: 1,
                    }),
                    Entry::Finish {
                        status: JobStatus::Succeeded,
                        message: String::new(),
                    },
                ],
                later,
            )
            .await;
        assert!(
            matches!(stale_write, Err(WriteError::Fenced)),
            "{backend}: {stale_write:?}"
        );
        assert!(
            matches!(
                store.renew(&first.lease, later).await,
                Err(WriteError::Fenced)
            ),
            "{backend}: a stale lease cannot be renewed"
        );

        let events = store
            .record(
                &second.lease,
                vec![Entry::Event(EventKind::StepSucceeded { step_index: 0 })],
                later,
            )
            .await
            .unwrap();
        let stored = store.get(&job.id).await.unwrap().unwrap();
        assert_eq!(
            stored.status,
            JobStatus::Running,
            "{backend}: A's finish was not applied"
        );
        assert_eq!(stored.last_sequence, events[0].sequence, "{backend}");
        let all = store.events_after(&job.id, 0, 100).await.unwrap();
        let kinds: Vec<_> = all.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                EventKind::JobQueued,
                EventKind::JobStarted { takeover: false },
                EventKind::StepStarted {
                    step_index: 0,
                    attempt: 1
                },
                EventKind::JobStarted { takeover: true },
                EventKind::StepStarted {
                    step_index: 0,
                    attempt: 2
                },
                EventKind::StepSucceeded { step_index: 0 },
            ],
            "{backend}: only B's writes are there"
        );
    }
}

#[tokio::test]
async fn a_steps_log_keeps_its_first_lines_numbered_and_is_marked_truncated_beyond_them() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        let now = Utc::now();
        store
            .create("0001logs", &new_job("logs-1"), now)
            .await
            .unwrap();
        let claim = store
            .claim("worker-a", Duration::from_secs(60), now)
            .await
            .unwrap()
            .expect("claimable");
        let limit = u64::try_from(MAX_LOG_LINES_PER_STEP).unwrap();
        let line = |number: u64| Entry::Log {
            step_index: 0,
            attempt: 1,
            line: format!("line {number}"),
        };
        // All but the last line that fits, in one record; then two more, one of them too many.
        let first = store
            .record(&claim.lease, (1..limit).map(line).collect(), now)
            .await
            .unwrap();
        assert_eq!(
            first.len(),
            usize::try_from(limit - 1).unwrap(),
            "{backend}"
        );
        let (_, truncated) = store.step_log("0001logs", 0, 0, 1).await.unwrap();
        assert!(!truncated, "{backend}: not full yet");
        let last = store
            .record(&claim.lease, vec![line(limit), line(limit + 1)], now)
            .await
            .unwrap();
        assert_eq!(
            last.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
            [EventKind::StepLog {
                step_index: 0,
                attempt: 1,
                line: format!("line {limit}"),
            }],
            "{backend}: the line beyond the limit is dropped"
        );

        let (lines, truncated) = store.step_log("0001logs", 0, limit - 2, 10).await.unwrap();
        assert!(truncated, "{backend}");
        assert_eq!(
            lines
                .into_iter()
                .map(|l| (l.number, l.text))
                .collect::<Vec<_>>(),
            [
                (limit - 1, format!("line {}", limit - 1)),
                (limit, format!("line {limit}")),
            ],
            "{backend}"
        );
        let stored = store.get("0001logs").await.unwrap().unwrap();
        assert_eq!(
            stored.last_sequence, last[0].sequence,
            "{backend}: events are numbered densely past the dropped line"
        );
    }
}

/// Claimers racing for one queue (replicas' workers) each get a job of their own: every job
/// is claimed once, under the first epoch, with its start recorded once.
#[tokio::test]
async fn racing_claimers_claim_each_job_once() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        let now = Utc::now().trunc_subsecs(6);
        const JOBS: usize = 24;
        for index in 0..JOBS {
            store
                .create(
                    &format!("{index:04}race"),
                    &new_job(&format!("race-{index}")),
                    now,
                )
                .await
                .unwrap();
        }
        let claimers = (0..8).map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                let owner = format!("worker-{worker}");
                while let Some(claim) = store
                    .claim(&owner, Duration::from_secs(60), now)
                    .await
                    .unwrap()
                {
                    claimed.push(claim);
                }
                claimed
            })
        });
        let mut ids = Vec::new();
        for claimer in futures::future::join_all(claimers).await {
            for claim in claimer.unwrap() {
                assert_eq!(claim.lease.epoch, 1, "{backend}: {}", claim.job.id);
                assert!(!claim.takeover, "{backend}");
                let events = store.events_after(&claim.job.id, 0, 100).await.unwrap();
                let kinds: Vec<_> = events.iter().map(|event| &event.kind).collect();
                assert_eq!(
                    kinds.len(),
                    3,
                    "{backend}: queued, started, step started: {kinds:?}"
                );
                ids.push(claim.job.id);
            }
        }
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "{backend}: a job was claimed twice");
        assert_eq!(ids.len(), JOBS, "{backend}: every job was claimed");
    }
}

#[tokio::test]
async fn a_steps_end_with_its_lines_and_the_jobs_end_are_stored_whole() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        let now = Utc::now().trunc_subsecs(6);
        store
            .create("0001whole", &new_job("whole-1"), now)
            .await
            .unwrap();
        let claim = store
            .claim("worker-a", Duration::from_secs(60), now)
            .await
            .unwrap()
            .expect("claimable");
        let claimed = store.get("0001whole").await.unwrap().unwrap();
        let ended = now + chrono::Duration::milliseconds(250);
        let entries = vec![
            Entry::Log {
                step_index: 0,
                attempt: 1,
                line: "applied".into(),
            },
            Entry::Log {
                step_index: 0,
                attempt: 1,
                line: "ready".into(),
            },
            Entry::Step {
                index: 0,
                status: StepStatus::Succeeded,
                attempts: 1,
                started_at: Some(ended),
                ended_at: Some(ended),
                message: String::new(),
            },
            Entry::Event(EventKind::StepSucceeded { step_index: 0 }),
            Entry::Event(EventKind::JobEnded {
                status: JobStatus::Succeeded,
                message: String::new(),
            }),
            Entry::Finish {
                status: JobStatus::Succeeded,
                message: String::new(),
            },
        ];
        let stored = store.record(&claim.lease, entries, ended).await.unwrap();

        let first = claimed.last_sequence + 1;
        assert_eq!(
            stored.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            (first..first + 4).collect::<Vec<_>>(),
            "{backend}: numbered after the claim's events"
        );
        let read = store
            .events_after("0001whole", claimed.last_sequence, 10)
            .await
            .unwrap();
        assert_eq!(
            read, stored,
            "{backend}: what was returned is what is stored"
        );
        let (lines, truncated) = store.step_log("0001whole", 0, 0, 10).await.unwrap();
        assert!(!truncated, "{backend}");
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.number, l.attempt, l.text.as_str()))
                .collect::<Vec<_>>(),
            [(1, 1, "applied"), (2, 1, "ready")],
            "{backend}"
        );
        let job = store.get("0001whole").await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Succeeded, "{backend}");
        assert_eq!(job.ended_at, Some(ended), "{backend}");
        assert_eq!(job.last_sequence, first + 3, "{backend}");
        let step = &job.steps[0];
        assert_eq!(step.status, StepStatus::Succeeded, "{backend}");
        assert_eq!(step.attempts, 1, "{backend}");
        assert_eq!(
            step.started_at, claimed.steps[0].started_at,
            "{backend}: the claim's start is kept"
        );
        assert_eq!(step.ended_at, Some(ended), "{backend}");
        let due = store.due_reports(ended, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["0001whole"],
            "{backend}: its outcome is owed"
        );
    }
}

/// A claim tells whether another job was claimable at the same time, so that a worker looks
/// again at once after its job rather than make an empty claim after every one.
#[tokio::test]
async fn a_claim_tells_whether_another_job_waits() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        let now = Utc::now().trunc_subsecs(6);
        for n in 1..=2 {
            store
                .create(
                    &format!("000{n}waiting"),
                    &new_job(&format!("waiting-{n}")),
                    now,
                )
                .await
                .unwrap();
        }
        let ttl = Duration::from_secs(5);
        let first = store.claim("worker-a", ttl, now).await.unwrap().unwrap();
        assert!(first.more_claimable, "{backend}: the second job waits");
        let second = store.claim("worker-b", ttl, now).await.unwrap().unwrap();
        assert!(
            !second.more_claimable,
            "{backend}: the first job is leased, nothing else waits"
        );
        // A lease that expired makes its job claimable again: a takeover waits.
        let later = now + chrono::Duration::seconds(10);
        let third = store
            .create("0003waiting", &new_job("waiting-3"), later)
            .await
            .unwrap();
        assert!(third.1, "{backend}");
        let taken_over = store.claim("worker-c", ttl, later).await.unwrap().unwrap();
        assert!(
            taken_over.takeover,
            "{backend}: the oldest claimable job comes first"
        );
        assert!(
            taken_over.more_claimable,
            "{backend}: the other expired lease and the new job wait"
        );
    }
}
