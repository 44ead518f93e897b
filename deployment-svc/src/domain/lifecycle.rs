//! The lifecycle as one state machine (docs/architecture.md, "Deployment lifecycle"): the
//! deployment's state, where its operation is, and an event in; what changes and the effects to
//! apply once that change committed out, or why the event does not fit. No IO, no clock.
//!
//! In the spirit of temporal sdk-core's state machines, every (state, slot, event) has an answer
//! here, checked exhaustively by the table test next to it: an event the lifecycle does not expect
//! is an [`Decision::Unexpected`] that the caller records on the operation and surfaces, never
//! dropped.

use super::state::{Action, Phase, Refusal, State, plan, state_when_started, state_when_succeeded};

/// Where the operation an event is about stands (for an asked action: the deployment's running
/// operation, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// No operation runs (for an event about an operation: that operation ended).
    Idle,
    /// The operation runs this phase; its job has not started yet.
    Starting(Phase),
    /// The job of this phase runs.
    Running(Phase),
}

/// The operation an event is about, as the machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationView<'a> {
    /// Its phases, in order.
    pub phases: &'a [Phase],
    /// The phase running now, or the last one reached once it ended.
    pub phase_index: usize,
    /// The jobs started so far, one per phase reached.
    pub jobs: &'a [String],
    /// Whether it still runs.
    pub running: bool,
}

impl OperationView<'_> {
    /// Where it stands.
    pub fn slot(&self) -> Slot {
        match self.phases.get(self.phase_index) {
            Some(phase) if self.running && self.jobs.len() > self.phase_index => {
                Slot::Running(*phase)
            }
            Some(phase) if self.running => Slot::Starting(*phase),
            _ => Slot::Idle,
        }
    }

    fn current_job(&self) -> Option<&str> {
        self.jobs.get(self.phase_index).map(String::as_str)
    }

    fn started(&self, job: &str) -> bool {
        self.jobs.iter().any(|started| started == job)
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd<'a> {
    /// Every step succeeded.
    Succeeded,
    /// A step failed; the job's message says which and why.
    Failed(&'a str),
    /// Someone cancelled it; the message, if any, says who or why.
    Cancelled(&'a str),
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A user asked for `action`, in a scope that allows drop or not.
    Asked {
        /// What was asked.
        action: Action,
        /// The deployment's scope allows Drop.
        allow_drop: bool,
    },
    /// The job of phase `phase_index` started.
    JobStarted {
        /// The phase it was started for.
        phase_index: usize,
        /// The job.
        job: &'a str,
    },
    /// The job of phase `phase_index` can never start (the runner refused it for good).
    JobNotStarted {
        /// The phase it was to run.
        phase_index: usize,
        /// Why, for the operation's message.
        reason: &'a str,
    },
    /// A job of the operation ended.
    JobEnded {
        /// The job.
        job: &'a str,
        /// How.
        end: JobEnd<'a>,
    },
    /// The reconciler looks at a running operation.
    Reconcile,
}

/// An event's kind: the third key of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Deploy asked.
    AskDeploy,
    /// Pause asked.
    AskPause,
    /// Drop asked.
    AskDrop,
    /// A job started.
    JobStarted,
    /// A job cannot start.
    JobNotStarted,
    /// A job succeeded.
    JobSucceeded,
    /// A job failed.
    JobFailed,
    /// A job was cancelled.
    JobCancelled,
    /// A reconciler pass.
    Reconcile,
}

impl Event<'_> {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Asked {
                action: Action::Deploy,
                ..
            } => EventKind::AskDeploy,
            Self::Asked {
                action: Action::Pause,
                ..
            } => EventKind::AskPause,
            Self::Asked {
                action: Action::Drop,
                ..
            } => EventKind::AskDrop,
            Self::JobStarted { .. } => EventKind::JobStarted,
            Self::JobNotStarted { .. } => EventKind::JobNotStarted,
            Self::JobEnded {
                end: JobEnd::Succeeded,
                ..
            } => EventKind::JobSucceeded,
            Self::JobEnded {
                end: JobEnd::Failed(_),
                ..
            } => EventKind::JobFailed,
            Self::JobEnded {
                end: JobEnd::Cancelled(_),
                ..
            } => EventKind::JobCancelled,
            Self::Reconcile => EventKind::Reconcile,
        }
    }
}

/// What happens to the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationChange {
    /// A new operation begins with these phases (its first is current).
    Begin(Vec<Phase>),
    /// The event's job is the current phase's.
    RecordJob,
    /// The next phase becomes current; its job is to start.
    NextPhase,
    /// The operation ended: every phase succeeded.
    Succeed,
    /// The operation ended failed, with this message.
    Fail(String),
}

/// What to do once the change committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start the job of the operation's current phase (StartJob, idempotent per phase).
    StartJob,
    /// Ask the runner how the current phase's job is (its outcome may not have been reported).
    AskOutcome,
    /// Tell the watches that the deployment changed.
    Publish,
}

/// What an event changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The deployment's state afterwards.
    pub state: State,
    /// What happens to the operation, if anything.
    pub operation: Option<OperationChange>,
    /// The deployment's running-job badge afterwards, when it changes.
    pub running_jobs: Option<i32>,
    /// What to do after commit, in order.
    pub effects: Vec<Effect>,
}

/// The machine's answer to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply this change, then its effects.
    Apply(Transition),
    /// Already applied (a start answered twice, an outcome reported again): nothing changes.
    Repeat,
    /// Not yet: the outcome of a job whose start is not recorded yet. The reconciler asks for
    /// it again once the start is recorded.
    Later,
    /// The action is refused; nothing changes.
    Refused(Refusal),
    /// The lifecycle does not expect this event here: nothing changes, and the caller records
    /// this description on the operation and logs it.
    Unexpected(String),
}

/// Decides what `event` does to a deployment in `state` whose operation (the one the event is
/// about; for an asked action, the running one) is `operation`.
pub fn decide(state: State, operation: Option<&OperationView<'_>>, event: &Event<'_>) -> Decision {
    let slot = operation.map_or(Slot::Idle, OperationView::slot);
    if let Some(problem) = inconsistency(state, slot) {
        return Decision::Unexpected(problem);
    }
    let stays = |operation, running_jobs, effects| {
        Decision::Apply(Transition {
            state,
            operation,
            running_jobs,
            effects,
        })
    };
    match (slot, operation, *event) {
        (Slot::Idle, _, Event::Asked { action, allow_drop }) => {
            match plan(state, action, allow_drop) {
                Ok(plan) => Decision::Apply(Transition {
                    state: state_when_started(plan.phases[0], state),
                    operation: Some(OperationChange::Begin(plan.phases)),
                    running_jobs: None,
                    effects: vec![Effect::StartJob, Effect::Publish],
                }),
                Err(refusal) => Decision::Refused(refusal),
            }
        }
        (_, _, Event::Asked { .. }) => Decision::Refused(Refusal::Busy),
        (Slot::Idle, None, Event::Reconcile) => Decision::Repeat,
        (Slot::Idle, None, _) => Decision::Unexpected(
            "an event about an operation arrived without the operation".to_owned(),
        ),
        // A start the other try (the request or the reconciler) already recorded, or one for an
        // earlier phase, or one that lost to a refusal that ended the operation.
        (_, Some(view), Event::JobStarted { phase_index, job })
            if phase_index != view.phase_index || view.started(job) =>
        {
            Decision::Repeat
        }
        (Slot::Idle, Some(_), Event::JobStarted { job, .. }) => Decision::Unexpected(format!(
            "job {job} started after the operation had ended; it runs without an operation"
        )),
        (Slot::Starting(_), _, Event::JobStarted { .. }) => stays(
            Some(OperationChange::RecordJob),
            Some(1),
            vec![Effect::Publish],
        ),
        (Slot::Running(phase), Some(view), Event::JobStarted { job, .. }) => {
            Decision::Unexpected(format!(
                "a second job {job} started for the {} phase, whose job is {}",
                phase.as_str(),
                view.current_job().unwrap_or("none")
            ))
        }
        (
            Slot::Starting(_),
            Some(view),
            Event::JobNotStarted {
                phase_index,
                reason,
            },
        ) if phase_index == view.phase_index => stays(
            Some(OperationChange::Fail(reason.to_owned())),
            Some(0),
            vec![Effect::Publish],
        ),
        // The phase moved on, its job started after all, or the operation ended meanwhile.
        (_, _, Event::JobNotStarted { .. }) => Decision::Repeat,
        (_, Some(view), Event::JobEnded { job, .. }) if view.current_job() != Some(job) => {
            if view.started(job) {
                // An earlier phase's outcome reported again.
                Decision::Repeat
            } else if matches!(slot, Slot::Starting(_)) {
                Decision::Later
            } else {
                Decision::Unexpected(format!(
                    "job {job} ended, but the operation never started it"
                ))
            }
        }
        (Slot::Idle, Some(_), Event::JobEnded { .. }) => Decision::Repeat,
        (Slot::Running(phase), Some(view), Event::JobEnded { end, .. }) => match end {
            JobEnd::Succeeded => match view.phases.get(view.phase_index + 1) {
                Some(next) => Decision::Apply(Transition {
                    state: state_when_started(*next, state_when_succeeded(phase)),
                    operation: Some(OperationChange::NextPhase),
                    running_jobs: None,
                    effects: vec![Effect::StartJob, Effect::Publish],
                }),
                None => Decision::Apply(Transition {
                    state: state_when_succeeded(phase),
                    operation: Some(OperationChange::Succeed),
                    running_jobs: Some(0),
                    effects: vec![Effect::Publish],
                }),
            },
            JobEnd::Failed(message) => stays(
                Some(OperationChange::Fail(message.to_owned())),
                Some(0),
                vec![Effect::Publish],
            ),
            JobEnd::Cancelled(message) => {
                let message = match message {
                    "" => "the job was cancelled".to_owned(),
                    message => message.to_owned(),
                };
                stays(
                    Some(OperationChange::Fail(message)),
                    Some(0),
                    vec![Effect::Publish],
                )
            }
        },
        // The current job is recorded once its start is: `current_job` is set only then.
        (Slot::Starting(_), Some(_), Event::JobEnded { .. }) => Decision::Later,
        (Slot::Idle, Some(_), Event::Reconcile) => Decision::Repeat,
        (Slot::Starting(_), Some(_), Event::Reconcile) => stays(None, None, vec![Effect::StartJob]),
        (Slot::Running(_), Some(_), Event::Reconcile) => {
            stays(None, None, vec![Effect::AskOutcome])
        }
        // A slot other than idle comes from an operation: this cannot be.
        (Slot::Starting(_) | Slot::Running(_), None, _) => {
            Decision::Unexpected("an operation's slot without the operation".to_owned())
        }
    }
}

/// Why a deployment in `state` cannot have its operation at `slot`, if it cannot: the state a
/// phase puts the deployment in is the state it has while the phase runs (a drop keeps the
/// state it started from until it succeeded).
fn inconsistency(state: State, slot: Slot) -> Option<String> {
    let phase = match slot {
        Slot::Idle => return None,
        Slot::Starting(phase) | Slot::Running(phase) => phase,
    };
    let fits = match phase {
        Phase::Drop => state != State::Dropped,
        other => other.state() == state,
    };
    (!fits).then(|| {
        format!(
            "a deployment in state {state} cannot be running the {} phase",
            phase.as_str()
        )
    })
}

#[cfg(test)]
mod tests;
