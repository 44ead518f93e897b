//! Operations: one lifecycle action on one deployment, who asked, and how it went.

use chrono::{DateTime, Utc};

use super::state::{Action, Phase};

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    /// Its books are running.
    Running,
    /// Every book succeeded.
    Succeeded,
    /// A book failed or was cancelled; the message says why.
    Failed,
}

impl OperationStatus {
    /// Name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// One action on one deployment (the audit log: docs/architecture.md, "deployment-svc").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `{deployment}/operations/{id}`.
    pub name: String,
    /// The deployment.
    pub deployment: String,
    /// What was asked.
    pub action: Action,
    /// Where it is.
    pub status: OperationStatus,
    /// Who asked (the identity the gateway forwards).
    pub actor: String,
    /// The caller's idempotency key.
    pub request_id: Option<String>,
    /// The books it runs, in order.
    pub phases: Vec<Phase>,
    /// The book running now (or the last one, once ended).
    pub phase_index: usize,
    /// Jobs started so far, one per phase reached.
    pub jobs: Vec<String>,
    /// Why it failed.
    pub message: String,
    /// For a rollback, the version whose key fields were restored.
    pub rollback_to_version: Option<i64>,
    /// For a retry, the operation retried.
    pub retry_of: Option<String>,
    /// For a retry resuming at the failed step, the failed job.
    pub resume_job: Option<String>,
    /// When it was asked.
    pub create_time: DateTime<Utc>,
    /// When it ended.
    pub end_time: Option<DateTime<Utc>>,
}

impl Operation {
    /// The phase running now.
    pub fn current_phase(&self) -> Phase {
        self.phases[self.phase_index.min(self.phases.len() - 1)]
    }

    /// Whether the operation still runs phase `phase_index` and that phase has no job yet: the
    /// only state in which a start may record its job, or end the operation because the job
    /// cannot start.
    pub fn awaits_job(&self, phase_index: usize) -> bool {
        self.status == OperationStatus::Running
            && self.phase_index == phase_index
            && self.jobs.len() == phase_index
    }

    /// The job of the current phase, once started.
    pub fn current_job(&self) -> Option<&str> {
        self.jobs.get(self.phase_index).map(String::as_str)
    }

    /// The idempotency key of the StartJob of the current phase: a retry (by the reconciler,
    /// after a crash) finds the same job.
    pub fn job_request_id(&self) -> String {
        format!("{}/{}", self.name, self.current_phase().as_str())
    }
}
