//! Jobs and their events between the domain and the contract.

use eyrie_proto::{
    internal::v1::JobOutcome,
    v1::{self as pb, job_event as event},
};

use super::snapshot::snapshot_to_proto;
use crate::domain::{
    book::Phase,
    job::{EventKind, Job, JobEvent, JobStatus, JobStep, Outcome, StepStatus},
};

pub use eyrie_platform::time::to_timestamp as timestamp;

fn index(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The contract's job status.
pub fn status_to_proto(status: JobStatus) -> pb::JobStatus {
    match status {
        JobStatus::Queued => pb::JobStatus::Queued,
        JobStatus::Running => pb::JobStatus::Running,
        JobStatus::Succeeded => pb::JobStatus::Succeeded,
        JobStatus::Failed => pb::JobStatus::Failed,
        JobStatus::Cancelled => pb::JobStatus::Cancelled,
    }
}

/// The domain's job status; `None` for UNSPECIFIED.
pub fn status_from_proto(status: pb::JobStatus) -> Option<JobStatus> {
    match status {
        pb::JobStatus::Unspecified => None,
        pb::JobStatus::Queued => Some(JobStatus::Queued),
        pb::JobStatus::Running => Some(JobStatus::Running),
        pb::JobStatus::Succeeded => Some(JobStatus::Succeeded),
        pb::JobStatus::Failed => Some(JobStatus::Failed),
        pb::JobStatus::Cancelled => Some(JobStatus::Cancelled),
    }
}

fn step_status(status: StepStatus) -> pb::StepStatus {
    match status {
        StepStatus::Pending => pb::StepStatus::Pending,
        StepStatus::Running => pb::StepStatus::Running,
        StepStatus::Succeeded => pb::StepStatus::Succeeded,
        StepStatus::Failed => pb::StepStatus::Failed,
        StepStatus::Skipped => pb::StepStatus::Skipped,
    }
}

/// The contract's book phase.
pub fn phase_to_proto(phase: Phase) -> pb::BookPhase {
    match phase {
        Phase::Initialize => pb::BookPhase::Initialize,
        Phase::Deploy => pb::BookPhase::Deploy,
        Phase::Pause => pb::BookPhase::Pause,
        Phase::Drop => pb::BookPhase::Drop,
    }
}

/// The domain's phase; `None` for UNSPECIFIED.
pub fn phase_from_proto(phase: pb::BookPhase) -> Option<Phase> {
    match phase {
        pb::BookPhase::Unspecified => None,
        pb::BookPhase::Initialize => Some(Phase::Initialize),
        pb::BookPhase::Deploy => Some(Phase::Deploy),
        pb::BookPhase::Pause => Some(Phase::Pause),
        pb::BookPhase::Drop => Some(Phase::Drop),
    }
}

/// `deploy`, `pause` or `drop`; `None` for UNSPECIFIED.
pub fn action_from_proto(action: pb::OperationAction) -> Option<&'static str> {
    match action {
        pb::OperationAction::Unspecified => None,
        pb::OperationAction::Deploy => Some("deploy"),
        pb::OperationAction::Pause => Some("pause"),
        pb::OperationAction::Drop => Some("drop"),
    }
}

fn action_to_proto(action: &str) -> pb::OperationAction {
    match action {
        "deploy" => pb::OperationAction::Deploy,
        "pause" => pb::OperationAction::Pause,
        "drop" => pb::OperationAction::Drop,
        _ => pb::OperationAction::Unspecified,
    }
}

/// A job as the contract shows it.
pub fn job_to_proto(job: &Job) -> pb::Job {
    pb::Job {
        name: job.name.clone(),
        deployment: job.deployment.clone(),
        operation: job.operation.clone(),
        action: action_to_proto(&job.action).into(),
        phase: phase_to_proto(job.phase).into(),
        book: job.book.clone(),
        book_content: Some(super::book::spec_to_proto(
            &job.book_content,
            job.book.clone(),
        )),
        snapshot: Some(snapshot_to_proto(&job.snapshot)),
        status: status_to_proto(job.status).into(),
        steps: job.steps.iter().map(step_to_proto).collect(),
        message: job.message.clone(),
        actor: job.actor.clone(),
        request_id: job.request_id.clone(),
        retry_of: job.retry_of.clone().unwrap_or_default(),
        last_sequence: job.last_sequence,
        create_time: Some(timestamp(job.created_at)),
        start_time: job.started_at.map(timestamp),
        end_time: job.ended_at.map(timestamp),
    }
}

fn step_to_proto(step: &JobStep) -> pb::JobStep {
    pb::JobStep {
        index: index(step.index),
        name: step.name.clone(),
        uses: step.uses.clone(),
        status: step_status(step.status).into(),
        attempts: step.attempts,
        start_time: step.started_at.map(timestamp),
        end_time: step.ended_at.map(timestamp),
        message: step.message.clone(),
    }
}

/// An event as watchers receive it; `job` is the job's resource name.
pub fn event_to_proto(job: &str, stored: &JobEvent) -> pb::JobEvent {
    let kind = match &stored.kind {
        EventKind::JobQueued => event::Kind::JobQueued(event::JobQueued {}),
        EventKind::JobStarted { takeover } => event::Kind::JobStarted(event::JobStarted {
            takeover: *takeover,
        }),
        EventKind::StepStarted {
            step_index,
            attempt,
        } => event::Kind::StepStarted(event::StepStarted {
            step_index: index(*step_index),
            attempt: *attempt,
        }),
        EventKind::StepLog {
            step_index,
            attempt,
            line,
        } => event::Kind::StepLog(event::StepLog {
            step_index: index(*step_index),
            attempt: *attempt,
            line: line.clone(),
        }),
        EventKind::StepRetrying {
            step_index,
            attempt,
            error,
            backoff_ms,
        } => event::Kind::StepRetrying(event::StepRetrying {
            step_index: index(*step_index),
            attempt: *attempt,
            error: error.clone(),
            backoff: Some(prost_types::Duration {
                seconds: i64::try_from(backoff_ms / 1000).unwrap_or(i64::MAX),
                nanos: i32::try_from((backoff_ms % 1000) * 1_000_000).unwrap_or(0),
            }),
        }),
        EventKind::StepSucceeded { step_index } => {
            event::Kind::StepSucceeded(event::StepSucceeded {
                step_index: index(*step_index),
            })
        }
        EventKind::StepFailed { step_index, error } => event::Kind::StepFailed(event::StepFailed {
            step_index: index(*step_index),
            error: error.clone(),
        }),
        EventKind::StepSkipped { step_index, reason } => {
            event::Kind::StepSkipped(event::StepSkipped {
                step_index: index(*step_index),
                reason: reason.clone(),
            })
        }
        EventKind::JobEnded { status, message } => event::Kind::JobEnded(event::JobEnded {
            status: status_to_proto(*status).into(),
            message: message.clone(),
        }),
    };
    pb::JobEvent {
        job: job.to_owned(),
        sequence: stored.sequence,
        time: Some(timestamp(stored.time)),
        kind: Some(kind),
    }
}

/// The outcome of a job, as deployment-svc is told it.
pub fn outcome(job: &Outcome) -> JobOutcome {
    JobOutcome {
        job: job.name.clone(),
        operation: job.operation.clone(),
        deployment: job.deployment.clone(),
        phase: phase_to_proto(job.phase).into(),
        status: status_to_proto(job.status).into(),
        message: job.message.clone(),
        end_time: job.ended_at.map(timestamp),
    }
}
