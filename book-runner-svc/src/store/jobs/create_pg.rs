//! A new job on PostgreSQL in one statement, one round trip, instead of a transaction of five
//! (begin, job, steps, events, commit): the job row's INSERT (as sea-orm builds it) with its
//! steps and first events inserted by the same data-modifying CTE. A replayed request id fails
//! the whole statement on the unique index, as the transaction's first INSERT would.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr,
    EntityTrait as _, IntoActiveModel as _, QueryTrait as _, Statement, Value, Values,
};
use serde::Serialize;

use super::rows::event_payload;
use crate::{
    domain::job::EventKind,
    store::entity::{job, job_step},
};

/// A step row as the statement reads it.
#[derive(Serialize)]
struct StepRow<'a> {
    step_index: i32,
    name: &'a str,
    uses: &'a str,
    status: &'a str,
}

/// An event row as the statement reads it.
#[derive(Serialize)]
struct EventRow {
    sequence: i64,
    payload: String,
}

/// Inserts `row`, its `steps` and its `events` (numbered from 1, at `now`) in one statement.
pub(super) async fn insert(
    db: &DatabaseConnection,
    row: &job::Model,
    steps: &[job_step::Model],
    events: &[EventKind],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let job_insert =
        job::Entity::insert(row.clone().into_active_model().reset_all()).build(DbBackend::Postgres);
    let mut values = job_insert
        .values
        .map(|Values(values)| values)
        .unwrap_or_default();
    let next = values.len();
    let steps: Vec<StepRow> = steps
        .iter()
        .map(|step| StepRow {
            step_index: step.step_index,
            name: &step.name,
            uses: &step.uses,
            status: &step.status,
        })
        .collect();
    let events: Vec<EventRow> = (1..)
        .zip(events)
        .map(|(sequence, kind)| EventRow {
            sequence,
            payload: event_payload(kind),
        })
        .collect();
    let sql = format!(
        r#"WITH job AS ({job} RETURNING id), steps AS (
    INSERT INTO job_steps (job_id, step_index, name, uses, status, attempts, message, log_lines, log_truncated)
    SELECT job.id, s.step_index, s.name, s.uses, s.status, 0, '', 0, false
    FROM job, jsonb_to_recordset(${steps}::jsonb) AS s(step_index int, name text, uses text, status text)
)
INSERT INTO job_events (job_id, sequence, time, payload)
SELECT job.id, e.sequence, ${now}, e.payload
FROM job, jsonb_to_recordset(${events}::jsonb) AS e(sequence bigint, payload text)"#,
        job = job_insert.sql,
        steps = next + 1,
        now = next + 2,
        events = next + 3,
    );
    values.extend([
        Value::from(serde_json::to_string(&steps).expect("steps serialise")),
        Value::from(now),
        Value::from(serde_json::to_string(&events).expect("events serialise")),
    ]);
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}
