//! The claim on PostgreSQL: one statement for a job never claimed before (the common case), two
//! otherwise, one round trip each, instead of a transaction of seven.
//!
//! 1. **Claim** (`CLAIM`): one data-modifying CTE picks the oldest claimable job, skipping rows
//!    other workers are claiming, moves it to `running` under a new lease epoch, and returns it
//!    with its steps and its status before the claim (queued, or running under an expired
//!    lease: a takeover).
//!    A job never claimed before has its opening step started by the same statement.
//! 2. **Start** (`START`), for the other claims: once the worker has decided what the claim
//!    starts (the next step, unless the job is being cancelled or the step has a condition, see
//!    `ClaimStart`), one CTE fenced by that epoch writes the job's last sequence, the step's
//!    start and the events.
//!
//! Each commits alone. A worker that dies between the two leaves a job running under a lease
//! nobody renews, with no event of its claim: the next claim, once the lease expired, is a
//! takeover that starts the step, as after any worker died. Watchers see the claim's events
//! only with the second commit.

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait as _, DatabaseConnection, DbBackend, FromQueryResult as _, Statement,
};

use super::{
    lease::{Claim, ClaimStart, Lease},
    rows::{event_payload, to_job},
};
use crate::{
    domain::{error::StoreError, job::JobStatus},
    store::entity::{job, job_step},
};

/// Claims a job: `$1` now, `$2` the owner, `$3` the lease's expiry. One row per step (or one
/// row with null `s_` columns for a job without steps), the steps as they were before the claim;
/// none when nothing can be claimed.
///
/// `more_claimable` tells whether another job was claimable too, as the statement saw the table
/// (a job another worker is claiming at the same time counts): the worker then looks again.
///
/// A job never claimed before, not being cancelled, with an opening step (`opening`: see the
/// migration that added `jobs.opening_step`) is started by this statement too: its step runs
/// and the two events `ClaimStart` plans are written, their payloads as `EventKind` serialises
/// them (a test reads them back). `opened` tells; `last_sequence` is then the new one.
pub(super) const CLAIM: &str = r#"
WITH candidate AS (
    SELECT id, status AS previous_status FROM jobs
    WHERE status IN ('queued', 'running') AND (status = 'queued' OR lease_expires_at < $1)
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs SET
        status = 'running',
        lease_owner = $2,
        lease_epoch = jobs.lease_epoch + 1,
        lease_expires_at = $3,
        started_at = COALESCE(jobs.started_at, $1),
        last_sequence = CASE
            WHEN jobs.lease_epoch = 0 AND NOT jobs.cancel_requested AND jobs.opening_step IS NOT NULL
            THEN jobs.last_sequence + 2 ELSE jobs.last_sequence END
    FROM candidate
    WHERE jobs.id = candidate.id
    RETURNING jobs.*, candidate.previous_status,
        jobs.lease_epoch = 1 AND NOT jobs.cancel_requested AND jobs.opening_step IS NOT NULL
            AS opened
), opening AS (
    UPDATE job_steps SET
        status = 'running',
        attempts = 1,
        started_at = COALESCE(job_steps.started_at, $1),
        ended_at = NULL,
        message = ''
    FROM claimed
    WHERE claimed.opened AND job_steps.job_id = claimed.id
        AND job_steps.step_index = claimed.opening_step
), opening_events AS (
    INSERT INTO job_events (job_id, sequence, time, payload)
    SELECT claimed.id, claimed.last_sequence - 1, $1,
        jsonb_build_object('kind', 'job_started', 'takeover', false)::text
    FROM claimed WHERE claimed.opened
    UNION ALL
    SELECT claimed.id, claimed.last_sequence, $1,
        jsonb_build_object('kind', 'step_started', 'step_index', claimed.opening_step,
            'attempt', 1)::text
    FROM claimed WHERE claimed.opened
), more AS (
    SELECT EXISTS (
        SELECT 1 FROM jobs, candidate
        WHERE jobs.status IN ('queued', 'running')
            AND (jobs.status = 'queued' OR jobs.lease_expires_at < $1)
            AND jobs.id <> candidate.id
    ) AS more_claimable
)
SELECT claimed.*, more.more_claimable,
    s.job_id AS s_job_id, s.step_index AS s_step_index, s.name AS s_name, s.uses AS s_uses,
    s.status AS s_status, s.attempts AS s_attempts, s.started_at AS s_started_at,
    s.ended_at AS s_ended_at, s.message AS s_message, s.log_lines AS s_log_lines,
    s.log_truncated AS s_log_truncated
FROM claimed CROSS JOIN more LEFT JOIN job_steps s ON s.job_id = claimed.id
ORDER BY s.step_index
"#;

/// Starts what the claim starts, if the job's epoch is still `$3`: `$1` the job's last
/// sequence, `$2` the job, `$4` now, `$5`/`$6` the step started and its attempt (null: none),
/// `$7`..`$10` up to two events (sequence, payload; null: none). Returns the events written.
const START: &str = r#"
WITH job AS (
    UPDATE jobs SET last_sequence = $1 WHERE id = $2 AND lease_epoch = $3 RETURNING id
), step AS (
    UPDATE job_steps SET
        status = 'running',
        attempts = $6,
        started_at = COALESCE(started_at, $4),
        ended_at = NULL,
        message = ''
    WHERE job_id IN (SELECT id FROM job) AND step_index = $5
)
INSERT INTO job_events (job_id, sequence, time, payload)
SELECT job.id, e.sequence, $4, e.payload
FROM job, (VALUES ($7::bigint, $8::text), ($9::bigint, $10::text)) AS e(sequence, payload)
WHERE e.sequence IS NOT NULL
RETURNING sequence
"#;

pub(super) async fn claim(
    db: &DatabaseConnection,
    owner: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Claim>, StoreError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            CLAIM,
            [now.into(), owner.into(), expires.into()],
        ))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut row = job::Model::from_query_result(first, "")?;
    let previous: String = first.try_get("", "previous_status")?;
    let opened: bool = first.try_get("", "opened")?;
    let more_claimable: bool = first.try_get("", "more_claimable")?;
    if opened {
        // The plan is made from the job as it was before the claim.
        row.last_sequence -= 2;
    }
    let mut steps = Vec::with_capacity(rows.len());
    for step in &rows {
        if step.try_get::<Option<String>>("", "s_job_id")?.is_some() {
            steps.push(job_step::Model::from_query_result(step, "s_")?);
        }
    }
    let epoch = row.lease_epoch;
    let cancel_requested = row.cancel_requested;
    let opening = row.opening_step;
    let started_at = row.started_at.unwrap_or(now);
    let job = to_job(row, steps)?;
    let start = ClaimStart::plan(
        &job,
        previous == JobStatus::Running.as_str(),
        cancel_requested,
    );
    let lease = Lease {
        job_id: job.id.clone(),
        epoch,
        owner: owner.to_owned(),
    };
    if opened {
        let expected = start.step.map(|step| (step.index, step.attempt));
        let opening = usize::try_from(opening.unwrap_or(-1)).ok();
        if expected != opening.map(|index| (index, 1)) || start.kinds.len() != 2 {
            // The job's opening step disagrees with its plan: not a job this code created.
            return Err(StoreError::Corrupt(format!(
                "job {}: opening step {opening:?}, planned {expected:?}",
                job.id
            )));
        }
        return Ok(Some(Claim {
            more_claimable,
            ..start.into_claim(job, lease, started_at, now)
        }));
    }
    let events: Vec<(i64, String)> = start
        .events()
        .map(|(sequence, kind)| (sequence, event_payload(kind)))
        .collect();
    let event = |at: usize| events.get(at).cloned().unzip();
    let ((first_sequence, first_payload), (second_sequence, second_payload)) = (event(0), event(1));
    let step_index = start
        .step
        .map(|step| i32::try_from(step.index).unwrap_or(i32::MAX));
    let attempt = start
        .step
        .map(|step| i32::try_from(step.attempt).unwrap_or(i32::MAX));
    let written = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            START,
            [
                start.last_sequence.into(),
                job.id.clone().into(),
                epoch.into(),
                now.into(),
                step_index.into(),
                attempt.into(),
                first_sequence.into(),
                first_payload.into(),
                second_sequence.into(),
                second_payload.into(),
            ],
        ))
        .await?;
    if written.len() != events.len() {
        // Taken over between the two statements (the lease expired meanwhile): not ours.
        return Ok(None);
    }
    Ok(Some(Claim {
        more_claimable,
        ..start.into_claim(job, lease, started_at, now)
    }))
}
