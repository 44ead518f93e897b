//! Operations: one lifecycle action on one deployment, who asked, and how it went.

use chrono::{DateTime, Utc};

use super::{
    lifecycle::OperationView,
    state::{Action, Phase},
};

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

/// Where one phase of an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseProgress {
    /// An earlier phase still runs.
    Pending,
    /// Reached; its job is being started.
    Starting,
    /// Its job runs.
    Running,
    /// Its job succeeded.
    Succeeded,
    /// Its job failed, or it could not start.
    Failed,
    /// Never run: an earlier phase failed.
    Skipped,
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
    /// What happened to it that its lifecycle did not expect (a job it never started ended, a
    /// second job started for one phase, ...): changed nothing, kept to be seen.
    pub unexpected_events: Vec<String>,
    /// The trace of the call that asked for it (W3C `traceparent`), which its jobs continue.
    pub trace_parent: Option<String>,
}

impl Operation {
    /// The phase running now.
    pub fn current_phase(&self) -> Phase {
        self.phases[self.phase_index.min(self.phases.len() - 1)]
    }

    /// The job of the current phase, once started.
    pub fn current_job(&self) -> Option<&str> {
        self.jobs.get(self.phase_index).map(String::as_str)
    }

    /// Each phase with its job, once started, and where it is. Phases before the current one
    /// succeeded, since an operation moves on only then.
    pub fn progress(&self) -> Vec<(Phase, Option<&str>, PhaseProgress)> {
        self.phases
            .iter()
            .enumerate()
            .map(|(index, phase)| {
                let job = self.jobs.get(index).map(String::as_str);
                let progress = match (index.cmp(&self.phase_index), self.status) {
                    (std::cmp::Ordering::Less, _) => PhaseProgress::Succeeded,
                    (std::cmp::Ordering::Equal, OperationStatus::Running) if job.is_some() => {
                        PhaseProgress::Running
                    }
                    (std::cmp::Ordering::Equal, OperationStatus::Running) => {
                        PhaseProgress::Starting
                    }
                    (std::cmp::Ordering::Equal, OperationStatus::Succeeded) => {
                        PhaseProgress::Succeeded
                    }
                    (std::cmp::Ordering::Equal, OperationStatus::Failed) => PhaseProgress::Failed,
                    (std::cmp::Ordering::Greater, OperationStatus::Running) => {
                        PhaseProgress::Pending
                    }
                    (std::cmp::Ordering::Greater, _) => PhaseProgress::Skipped,
                };
                (*phase, job, progress)
            })
            .collect()
    }

    /// What the lifecycle's state machine needs of it.
    pub fn view(&self) -> OperationView<'_> {
        OperationView {
            phases: &self.phases,
            phase_index: self.phase_index,
            jobs: &self.jobs,
            running: self.status == OperationStatus::Running,
        }
    }

    /// The idempotency key of the StartJob of the current phase: a retry (by the reconciler,
    /// after a crash) finds the same job.
    pub fn job_request_id(&self) -> String {
        format!("{}/{}", self.name, self.current_phase().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy_from_draft(status: OperationStatus, phase_index: usize, jobs: &[&str]) -> Operation {
        Operation {
            name: "projects/p/groups/g/deployments/d/operations/1".into(),
            deployment: "projects/p/groups/g/deployments/d".into(),
            action: Action::Deploy,
            status,
            actor: "tokens/admin".into(),
            request_id: None,
            phases: vec![Phase::Initialize, Phase::Deploy],
            phase_index,
            jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
            message: String::new(),
            rollback_to_version: None,
            retry_of: None,
            resume_job: None,
            create_time: DateTime::UNIX_EPOCH,
            end_time: None,
            unexpected_events: Vec::new(),
            trace_parent: None,
        }
    }

    fn progress(operation: &Operation) -> Vec<(Option<&str>, PhaseProgress)> {
        operation
            .progress()
            .into_iter()
            .map(|(_, job, progress)| (job, progress))
            .collect()
    }

    #[test]
    fn each_phase_shows_where_it_is() {
        use OperationStatus::{Failed, Running, Succeeded};
        use PhaseProgress as P;
        type Row<'a> = (
            OperationStatus,
            usize,
            &'a [&'a str],
            [(Option<&'a str>, PhaseProgress); 2],
        );
        let table: [Row; 6] = [
            (Running, 0, &[], [(None, P::Starting), (None, P::Pending)]),
            (
                Running,
                0,
                &["i"],
                [(Some("i"), P::Running), (None, P::Pending)],
            ),
            (
                Running,
                1,
                &["i"],
                [(Some("i"), P::Succeeded), (None, P::Starting)],
            ),
            (
                Running,
                1,
                &["i", "d"],
                [(Some("i"), P::Succeeded), (Some("d"), P::Running)],
            ),
            (
                Succeeded,
                1,
                &["i", "d"],
                [(Some("i"), P::Succeeded), (Some("d"), P::Succeeded)],
            ),
            (
                Failed,
                0,
                &["i"],
                [(Some("i"), P::Failed), (None, P::Skipped)],
            ),
        ];
        for (status, phase_index, jobs, expected) in table {
            let operation = deploy_from_draft(status, phase_index, jobs);
            assert_eq!(
                progress(&operation),
                expected,
                "{status:?} at {phase_index} with {jobs:?}"
            );
        }
    }
}
