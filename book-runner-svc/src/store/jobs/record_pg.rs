//! A worker's record on PostgreSQL in one statement, one round trip, instead of a transaction of
//! up to seven (begin, fence, log count, step, log lines, events, commit).
//!
//! One data-modifying CTE, fenced by the lease's epoch like [`super::record`]'s transaction:
//! the job row's update (sequence numbers taken, and the end if there is one) is refused unless
//! the lease still holds the job **and** every step's log has room for all its new lines. The
//! step updates, log lines and events are written only when that update was made. The common
//! case (a step's state, its few lines, its events) commits at once; a refused statement writes
//! nothing, and the caller falls back to the transaction, which tells a lost lease from a full
//! log (the rare case, where the lines that fit are kept and the log is marked truncated).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;

use super::{
    MAX_LOG_LINES_PER_STEP,
    lease::Lease,
    record::Entry,
    reports,
    rows::{event_payload, stored_event},
};
use crate::domain::job::{EventKind, JobEvent};

/// `$1` job, `$2` epoch, `$3` sequence numbers taken, `$4` now, `$5`..`$7` the end (status,
/// message, report state; null status: none), `$8` the log limit, `$9` the steps touched, `$10`
/// their log lines, `$11` the events (JSON arrays, see [`StepRow`], [`LogRow`], [`EventRow`]).
/// Returns the job's new last sequence, or nothing when refused.
const RECORD: &str = r#"
WITH touched AS (
    SELECT * FROM jsonb_to_recordset($9::jsonb) AS t(
        step_index int, lines bigint, status text, attempts int,
        started_at timestamptz, ended_at timestamptz, message text)
), fenced AS (
    UPDATE jobs SET
        last_sequence = last_sequence + $3,
        status = COALESCE($5::text, status),
        message = CASE WHEN $5::text IS NULL THEN message ELSE $6 END,
        ended_at = CASE WHEN $5::text IS NULL THEN ended_at ELSE $4 END,
        lease_owner = CASE WHEN $5::text IS NULL THEN lease_owner END,
        lease_expires_at = CASE WHEN $5::text IS NULL THEN lease_expires_at END,
        report_state = CASE WHEN $5::text IS NULL THEN report_state ELSE $7 END,
        next_report_at = CASE WHEN $5::text IS NULL THEN next_report_at ELSE $4 END
    WHERE id = $1 AND lease_epoch = $2
      AND (SELECT count(*) FROM touched) = (
          SELECT count(*) FROM job_steps s JOIN touched t ON s.step_index = t.step_index
          WHERE s.job_id = $1 AND s.log_lines <= $8 - t.lines)
    RETURNING last_sequence
), steps AS (
    UPDATE job_steps s SET
        log_lines = s.log_lines + t.lines,
        status = COALESCE(t.status, s.status),
        attempts = COALESCE(t.attempts, s.attempts),
        started_at = COALESCE(s.started_at, t.started_at),
        ended_at = CASE WHEN t.status IS NULL THEN s.ended_at ELSE t.ended_at END,
        message = COALESCE(t.message, s.message)
    FROM fenced, touched t
    WHERE s.job_id = $1 AND s.step_index = t.step_index
    RETURNING s.step_index, s.log_lines - t.lines AS lines_before
), logs AS (
    INSERT INTO step_logs (job_id, step_index, number, attempt, time, text)
    SELECT $1, l.step_index, steps.lines_before + l.ord, l.attempt, $4, l.text
    FROM steps JOIN jsonb_to_recordset($10::jsonb) AS l(
        step_index int, ord bigint, attempt int, text text) ON l.step_index = steps.step_index
), events AS (
    INSERT INTO job_events (job_id, sequence, time, payload)
    SELECT $1, fenced.last_sequence - $3 + e.ord, $4, e.payload
    FROM fenced, jsonb_to_recordset($11::jsonb) AS e(ord bigint, payload text)
)
SELECT last_sequence FROM fenced
"#;

/// A step the record touches: its new state (the last one the entries give; the first start
/// given is kept when none is stored) and how many log lines it gets.
#[derive(Serialize, Default)]
struct StepRow {
    step_index: usize,
    lines: i64,
    status: Option<&'static str>,
    attempts: Option<u32>,
    started_at: Option<String>,
    ended_at: Option<String>,
    message: Option<String>,
}

/// A log line, numbered `ord` among its step's new lines.
#[derive(Serialize)]
struct LogRow<'a> {
    step_index: usize,
    ord: i64,
    attempt: u32,
    text: &'a str,
}

/// An event, numbered `ord` among the record's events.
#[derive(Serialize)]
struct EventRow {
    ord: i64,
    payload: String,
}

/// Records `entries` under `lease` in one statement. `None`: nothing was written (the lease is
/// gone, or a step's log has no room for its lines); the transaction path then decides.
pub(super) async fn record(
    db: &DatabaseConnection,
    lease: &Lease,
    entries: &[Entry],
    now: DateTime<Utc>,
) -> Result<Option<Vec<JobEvent>>, DbErr> {
    let mut steps: BTreeMap<usize, StepRow> = BTreeMap::new();
    let mut logs = Vec::new();
    let mut events = Vec::new();
    let mut kinds = Vec::new();
    let mut finish = None;
    for entry in entries {
        let kind = match entry {
            Entry::Event(kind) => kind.clone(),
            Entry::Step {
                index,
                status,
                attempts,
                started_at,
                ended_at,
                message,
            } => {
                let row = step_row(&mut steps, *index);
                row.status = Some(status.as_str());
                row.attempts = Some(*attempts);
                row.started_at = row.started_at.take().or(started_at.map(timestamp));
                row.ended_at = ended_at.map(timestamp);
                row.message = Some(message.clone());
                continue;
            }
            Entry::Log {
                step_index,
                attempt,
                line,
            } => {
                let row = step_row(&mut steps, *step_index);
                row.lines += 1;
                logs.push(LogRow {
                    step_index: *step_index,
                    ord: row.lines,
                    attempt: *attempt,
                    text: line,
                });
                EventKind::StepLog {
                    step_index: *step_index,
                    attempt: *attempt,
                    line: line.clone(),
                }
            }
            Entry::Finish { status, message } => {
                finish = Some((status.as_str(), message.as_str()));
                continue;
            }
        };
        events.push(EventRow {
            ord: i64::try_from(events.len() + 1).unwrap_or(i64::MAX),
            payload: event_payload(&kind),
        });
        kinds.push(kind);
    }
    let taken = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let steps: Vec<StepRow> = steps.into_values().collect();
    let (status, message) = finish.unzip();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            RECORD,
            [
                lease.job_id.clone().into(),
                lease.epoch.into(),
                taken.into(),
                now.into(),
                status.map(str::to_owned).into(),
                message.map(str::to_owned).into(),
                reports::PENDING.to_owned().into(),
                MAX_LOG_LINES_PER_STEP.into(),
                json(&steps).into(),
                json(&logs).into(),
                json(&events).into(),
            ],
        ))
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let last: i64 = row.try_get("", "last_sequence")?;
    let first = last - taken;
    Ok(Some(
        (1..)
            .zip(kinds)
            .map(|(ord, kind)| stored_event(&lease.job_id, first + ord, now, kind))
            .collect(),
    ))
}

fn step_row(steps: &mut BTreeMap<usize, StepRow>, index: usize) -> &mut StepRow {
    steps.entry(index).or_insert_with(|| StepRow {
        step_index: index,
        ..StepRow::default()
    })
}

/// A time as PostgreSQL stores it: whole microseconds, truncated as a bound parameter is.
fn timestamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The JSON text of a parameter.
fn json<T: Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows serialise")
}
