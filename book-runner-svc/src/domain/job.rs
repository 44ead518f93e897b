//! Jobs: one run of one book for one deployment, its steps and its events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    book::{BookSpec, Phase},
    snapshot::{Snapshot, sample_snapshot},
};

/// Where a job is in its life. `Succeeded`, `Failed` and `Cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds its lease and runs its steps.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed after its retries.
    Failed,
    /// Cancelled before it ended.
    Cancelled,
}

impl JobStatus {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Tells whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Where a step is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started, not ended.
    Running,
    /// Done.
    Succeeded,
    /// Failed after its retries.
    Failed,
    /// Not run: its `if` was false, an earlier step failed, or the job was cancelled or
    /// resumed past it.
    Skipped,
}

impl StepStatus {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A job as read from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Storage id (the last segment of `name`).
    pub id: String,
    /// Resource name, `{deployment}/jobs/{id}`.
    pub name: String,
    /// The deployment.
    pub deployment: String,
    /// The deployment-svc operation that started it.
    pub operation: String,
    /// `deploy`, `pause` or `drop`.
    pub action: String,
    /// Which of the group's books it runs.
    pub phase: Phase,
    /// Resource name of the book.
    pub book: String,
    /// The exact book it runs.
    pub book_content: BookSpec,
    /// What it knows of the deployment.
    pub snapshot: Snapshot,
    /// Where it is.
    pub status: JobStatus,
    /// Why it failed or was cancelled.
    pub message: String,
    /// Who started it.
    pub actor: String,
    /// Idempotency key of the StartJob that created it.
    pub request_id: String,
    /// The job it retries.
    pub retry_of: Option<String>,
    /// First step to run (steps before it are skipped: a retry resuming at a failed step).
    pub resume_from: usize,
    /// Its steps.
    pub steps: Vec<JobStep>,
    /// Sequence number of its latest event.
    pub last_sequence: u64,
    /// Times.
    pub created_at: DateTime<Utc>,
    /// When a worker first started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStep {
    /// Index in the book.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Kind.
    pub uses: String,
    /// Where it is.
    pub status: StepStatus,
    /// Attempts made so far (a takeover's re-run counts).
    pub attempts: u32,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub message: String,
}

/// What happened, as watchers see it. Stored as JSON with a per-job sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The job was created.
    JobQueued,
    /// A worker started (or took over) the job.
    JobStarted {
        /// True when the previous worker's lease had expired.
        takeover: bool,
    },
    /// An attempt of a step started.
    StepStarted {
        /// Step index.
        step_index: usize,
        /// Attempt, from 1.
        attempt: u32,
    },
    /// A step said something.
    StepLog {
        /// Step index.
        step_index: usize,
        /// Attempt.
        attempt: u32,
        /// The line; never a secret value.
        line: String,
    },
    /// An attempt failed; another follows after `backoff_ms`.
    StepRetrying {
        /// Step index.
        step_index: usize,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Wait before the next attempt.
        backoff_ms: u64,
    },
    /// A step succeeded.
    StepSucceeded {
        /// Step index.
        step_index: usize,
    },
    /// A step failed for good.
    StepFailed {
        /// Step index.
        step_index: usize,
        /// Why.
        error: String,
    },
    /// A step will not run.
    StepSkipped {
        /// Step index.
        step_index: usize,
        /// Why, when its `if` is false; empty for a step the job did not reach.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// The job ended; always its last event.
    JobEnded {
        /// Final status.
        status: JobStatus,
        /// Why, for failures and cancellations.
        message: String,
    },
}

/// What deployment-svc is told of a job: where it ended (or where it is), without its book,
/// snapshot or steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Id.
    pub id: String,
    /// `deployments/{id}/jobs/{job}`.
    pub name: String,
    /// The deployment's name.
    pub deployment: String,
    /// The operation the job runs for.
    pub operation: String,
    /// The lifecycle phase of its book.
    pub phase: Phase,
    /// Where it is.
    pub status: JobStatus,
    /// Why, for failures and cancellations.
    pub message: String,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl Outcome {
    /// The outcome of `job`, ended `at` with `status` and `message`.
    pub fn of(job: &Job, status: JobStatus, message: String, at: DateTime<Utc>) -> Self {
        Self {
            id: job.id.clone(),
            name: job.name.clone(),
            deployment: job.deployment.clone(),
            operation: job.operation.clone(),
            phase: job.phase,
            status,
            message,
            ended_at: Some(at),
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// Storage id of the job.
    pub job_id: String,
    /// 1, 2, 3, ... per job, without gaps.
    pub sequence: u64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

impl Job {
    /// Index of the step a worker runs next: the first one neither succeeded nor skipped (a
    /// step left running by a worker that lost its lease runs again).
    pub fn next_step(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|step| !matches!(step.status, StepStatus::Succeeded | StepStatus::Skipped))
    }
}

impl JobEvent {
    /// Tells whether this is the job's final event.
    pub fn is_final(&self) -> bool {
        matches!(self.kind, EventKind::JobEnded { .. })
    }
}

/// A request to run a book for a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Idempotency key: the same key returns the same job.
    pub request_id: String,
    /// What the job knows of the deployment.
    pub snapshot: Snapshot,
    /// `deploy`, `pause` or `drop`.
    pub action: String,
    /// Which book of the group.
    pub phase: Phase,
    /// The book's resource name.
    pub book: String,
    /// Its content at this moment.
    pub book_content: BookSpec,
    /// The deployment-svc operation.
    pub operation: String,
    /// Who asked.
    pub actor: String,
    /// The job this one retries.
    pub retry_of: Option<String>,
    /// First step to run.
    pub resume_from: usize,
}

impl NewJob {
    /// A deploy job of `book` for the sample snapshot (see [`sample_snapshot`]), asked with
    /// `request_id`: for tests and benchmarks that need a job without a deployment behind it.
    pub fn sample(request_id: &str, book: BookSpec) -> Self {
        Self {
            request_id: request_id.to_owned(),
            snapshot: sample_snapshot(&[]),
            action: "deploy".into(),
            phase: Phase::Deploy,
            book: format!("books/{}", book.name),
            book_content: book,
            operation: "op".into(),
            actor: "tokens/test".into(),
            retry_of: None,
            resume_from: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_know_when_they_are_final() {
        for status in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert!(!JobStatus::Running.is_final());
        assert!(JobStatus::Cancelled.is_final());
        for status in [
            StepStatus::Pending,
            StepStatus::Running,
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
        ] {
            assert_eq!(StepStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn events_are_stored_as_tagged_json() {
        let event = EventKind::StepRetrying {
            step_index: 2,
            attempt: 1,
            error: "timed out".into(),
            backoff_ms: 1000,
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"kind\":\"step_retrying\""), "{json}");
        assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), event);
    }

    #[test]
    fn skipped_events_stored_before_conditions_read_without_a_reason() {
        let stored = r#"{"kind":"step_skipped","step_index":1}"#;
        let event = EventKind::StepSkipped {
            step_index: 1,
            reason: String::new(),
        };
        assert_eq!(serde_json::from_str::<EventKind>(stored).unwrap(), event);
        assert_eq!(serde_json::to_string(&event).unwrap(), stored);
    }
}
