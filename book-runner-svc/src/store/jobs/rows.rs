//! Stored rows to domain jobs and events, and back.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;

use crate::{
    domain::{
        book::Phase,
        error::StoreError,
        job::{EventKind, Job, JobEvent, JobStatus, JobStep, StepStatus},
    },
    store::entity::{job, job_event, job_step},
};

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Reads a job and its steps.
pub(super) fn to_job(row: job::Model, steps: Vec<job_step::Model>) -> Result<Job, StoreError> {
    let status = job_status(&row.id, &row.status)?;
    let phase = job_phase(&row.id, &row.phase)?;
    let book_content = serde_json::from_str(&row.book_content)
        .map_err(|e| corrupt(format!("job {}: book: {e}", row.id)))?;
    let snapshot = serde_json::from_str(&row.snapshot)
        .map_err(|e| corrupt(format!("job {}: snapshot: {e}", row.id)))?;
    let steps = steps
        .into_iter()
        .map(to_step)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Job {
        id: row.id,
        name: row.name,
        deployment: row.deployment,
        operation: row.operation,
        action: row.action,
        phase,
        book: row.book,
        book_content,
        snapshot,
        status,
        message: row.message,
        actor: row.actor,
        request_id: row.request_id,
        retry_of: row.retry_of,
        resume_from: usize::try_from(row.resume_from).unwrap_or(0),
        steps,
        last_sequence: u64::try_from(row.last_sequence).unwrap_or(0),
        created_at: row.created_at,
        started_at: row.started_at,
        ended_at: row.ended_at,
    })
}

/// The stored status of job `id`.
pub(super) fn job_status(id: &str, status: &str) -> Result<JobStatus, StoreError> {
    JobStatus::parse(status).ok_or_else(|| corrupt(format!("job {id}: status {status}")))
}

/// The stored phase of job `id`.
pub(super) fn job_phase(id: &str, phase: &str) -> Result<Phase, StoreError> {
    Phase::parse(phase).ok_or_else(|| corrupt(format!("job {id}: phase {phase}")))
}

fn to_step(row: job_step::Model) -> Result<JobStep, StoreError> {
    Ok(JobStep {
        index: usize::try_from(row.step_index).map_err(|_| corrupt("negative step index"))?,
        name: row.name,
        uses: row.uses,
        status: StepStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("step status {}", row.status)))?,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        started_at: row.started_at,
        ended_at: row.ended_at,
        message: row.message,
    })
}

/// Reads a stored event.
pub(super) fn to_event(row: job_event::Model) -> Result<JobEvent, StoreError> {
    Ok(JobEvent {
        sequence: u64::try_from(row.sequence).map_err(|_| corrupt("negative sequence"))?,
        kind: serde_json::from_str::<EventKind>(&row.payload)
            .map_err(|e| corrupt(format!("job {} event {}: {e}", row.job_id, row.sequence)))?,
        time: row.time,
        job_id: row.job_id,
    })
}

/// The row of event `kind` numbered `sequence`.
pub(super) fn event_row(
    job_id: &str,
    sequence: i64,
    time: DateTime<Utc>,
    kind: &EventKind,
) -> job_event::ActiveModel {
    job_event::ActiveModel {
        job_id: Set(job_id.to_owned()),
        sequence: Set(sequence),
        time: Set(time),
        payload: Set(event_payload(kind)),
    }
}

/// How an event is stored: its kind as JSON.
pub(super) fn event_payload(kind: &EventKind) -> String {
    serde_json::to_string(kind).expect("events serialise")
}

/// The event as returned after storing it.
pub(super) fn stored_event(
    job_id: &str,
    sequence: i64,
    time: DateTime<Utc>,
    kind: EventKind,
) -> JobEvent {
    JobEvent {
        job_id: job_id.to_owned(),
        sequence: u64::try_from(sequence).unwrap_or(0),
        time,
        kind,
    }
}
