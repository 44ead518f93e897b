//! The one-statement writes on PostgreSQL are the ones taken: each is run here on its own, so a
//! write that silently fell back to its transaction, or to the claim's second statement, fails.
//! (The suite's tests check what readers see on both databases, whichever path wrote it.)

use std::time::Duration;

use chrono::{SubsecRound as _, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

use super::{
    MAX_LOG_LINES_PER_STEP, SeaJobStore, claim_pg, lease::Lease, record::Entry, record_pg,
};
use crate::{
    domain::{
        book::{BookFormat, BookSpec},
        job::{EventKind, JobStatus, NewJob, StepStatus},
    },
    store::migration::Migrator,
};

/// A store on a fresh PostgreSQL schema, when the tests have PostgreSQL.
async fn postgres_store() -> Option<SeaJobStore> {
    let settings = eyrie_platform::testing::postgres_test_database()?;
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
        .await
        .unwrap();
    Some(SeaJobStore::new(db))
}

fn new_job(request_id: &str, condition: Option<&str>) -> NewJob {
    let condition = condition.map_or(String::new(), |c| format!(", if: \"{c}\""));
    let book = BookSpec::parse(
        BookFormat::Yaml,
        &format!(
            "name: one\ntype: none\nsteps:\n  - {{name: Wait, uses: k8s.wait{condition}, with: {{api_version: v1, kind: Pod, name: p, condition: exists}}}}\n"
        ),
    )
    .unwrap();
    NewJob::sample(request_id, book)
}

/// Runs the claiming statement alone; whether it also opened the job's first step.
async fn claim_statement_alone(store: &SeaJobStore) -> bool {
    let now = Utc::now();
    let rows = store
        .connection()
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            claim_pg::CLAIM,
            [
                now.into(),
                "worker-a".into(),
                (now + chrono::Duration::seconds(60)).into(),
            ],
        ))
        .await
        .unwrap();
    rows.first()
        .expect("a job to claim")
        .try_get("", "opened")
        .unwrap()
}

#[tokio::test]
async fn the_claiming_statement_alone_starts_a_new_jobs_opening_step() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let now = Utc::now().trunc_subsecs(6);
    store
        .create("0001open", &new_job("open-1", None), now)
        .await
        .unwrap();
    assert!(claim_statement_alone(&store).await);

    let job = store.get("0001open").await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.steps[0].status, StepStatus::Running);
    assert_eq!(job.steps[0].attempts, 1);
    assert!(job.steps[0].started_at.is_some());
    assert_eq!(job.last_sequence, 3);
    let kinds: Vec<EventKind> = store
        .events_after("0001open", 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::JobQueued,
            EventKind::JobStarted { takeover: false },
            EventKind::StepStarted {
                step_index: 0,
                attempt: 1
            },
        ],
        "the events the statement built read back as the worker would have written them"
    );
}

#[tokio::test]
async fn a_conditional_first_step_is_left_to_the_claims_second_statement() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let now = Utc::now();
    store
        .create("0001cond", &new_job("cond-1", Some("true")), now)
        .await
        .unwrap();
    assert!(!claim_statement_alone(&store).await);
    let job = store.get("0001cond").await.unwrap().unwrap();
    assert_eq!(job.steps[0].status, StepStatus::Pending);
    assert_eq!(job.last_sequence, 1, "no event of the claim yet");
}

#[tokio::test]
async fn a_record_is_one_statement_unless_the_lease_is_gone_or_a_log_is_full() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let now = Utc::now().trunc_subsecs(6);
    store
        .create("0001rec", &new_job("rec-1", None), now)
        .await
        .unwrap();
    let claim = store
        .claim("worker-a", Duration::from_secs(60), now)
        .await
        .unwrap()
        .expect("claimable");
    let line = |text: &str| Entry::Log {
        step_index: 0,
        attempt: 1,
        line: text.to_owned(),
    };
    let db = store.connection();

    let written = record_pg::record(db, &claim.lease, &[line("applied")], now)
        .await
        .unwrap()
        .expect("written by the statement");
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].sequence, claim.job.last_sequence + 1);

    let stale = Lease {
        epoch: claim.lease.epoch - 1,
        ..claim.lease.clone()
    };
    let refused = record_pg::record(db, &stale, &[line("late")], now).await;
    assert!(matches!(refused, Ok(None)), "{refused:?}");

    let too_many: Vec<Entry> = (0..MAX_LOG_LINES_PER_STEP).map(|_| line("x")).collect();
    let refused = record_pg::record(db, &claim.lease, &too_many, now).await;
    assert!(matches!(refused, Ok(None)), "{refused:?}");

    let job = store.get("0001rec").await.unwrap().unwrap();
    assert_eq!(
        job.last_sequence,
        claim.job.last_sequence + 1,
        "a refused statement wrote nothing"
    );
    let (lines, truncated) = store.step_log("0001rec", 0, 0, 10).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert!(!truncated);
}
