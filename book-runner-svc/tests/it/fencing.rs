//! A worker whose lease was taken over cannot write anything (fencing).

use std::time::Duration;

use chrono::Utc;
use eyrie_book_runner_svc::{
    domain::{
        book::{BookFormat, BookSpec, Phase},
        job::{EventKind, JobStatus, NewJob},
        snapshot::sample_snapshot,
    },
    store::{
        jobs::{Entry, SeaJobStore, WriteError},
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
    NewJob {
        request_id: request_id.to_owned(),
        snapshot: sample_snapshot(&[]),
        action: "deploy".into(),
        phase: Phase::Deploy,
        book: "books/one".into(),
        book_content: book,
        operation: "op".into(),
        actor: "tokens/test".into(),
        retry_of: None,
        resume_from: 0,
    }
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_write() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        let store = SeaJobStore::new(db);
        let now = Utc::now();
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
                vec![Entry::Event(EventKind::StepStarted {
                    step_index: 0,
                    attempt: 1,
                })],
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
                EventKind::JobStarted { takeover: true },
                EventKind::StepStarted {
                    step_index: 0,
                    attempt: 1
                },
            ],
            "{backend}: only B's writes are there"
        );
    }
}
