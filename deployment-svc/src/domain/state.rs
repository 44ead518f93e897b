//! The lifecycle of a deployment (docs/architecture.md, "Deployment lifecycle") as a pure
//! function: the current state and an action in, the books to run and the state to enter out.
//! No IO, no clock.

use std::fmt;

/// Where a deployment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Created; no action taken yet.
    Draft,
    /// The initialize book runs (or ran and failed).
    Initialize,
    /// Deployed (or its deploy book runs, or ran and failed).
    Deploy,
    /// Paused (or its pause book runs, or ran and failed).
    Pause,
    /// Dropped: kept for history, hidden from default lists, no action possible.
    Dropped,
}

impl State {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Initialize,
        Self::Deploy,
        Self::Pause,
        Self::Dropped,
    ];

    /// Name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Initialize => "initialize",
            Self::Deploy => "deploy",
            Self::Pause => "pause",
            Self::Dropped => "dropped",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a user asks of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deploy (from draft: initialize first), or re-deploy.
    Deploy,
    /// Scale down, keep the data.
    Pause,
    /// Remove for good.
    Drop,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 3] = [Self::Deploy, Self::Pause, Self::Drop];

    /// Name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Pause => "pause",
            Self::Drop => "drop",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

/// Which of the group's books runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The initialize book.
    Initialize,
    /// The deploy book.
    Deploy,
    /// The pause book.
    Pause,
    /// The drop book.
    Drop,
}

impl Phase {
    /// Name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Deploy => "deploy",
            Self::Pause => "pause",
            Self::Drop => "drop",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Initialize, Self::Deploy, Self::Pause, Self::Drop]
            .into_iter()
            .find(|phase| phase.as_str() == text)
    }

    /// The state a deployment is in while this phase's book runs.
    pub fn state(self) -> State {
        match self {
            Self::Initialize => State::Initialize,
            Self::Deploy => State::Deploy,
            Self::Pause => State::Pause,
            // A drop keeps the state until its book succeeds.
            Self::Drop => State::Dropped,
        }
    }
}

/// What an accepted action does: the books to run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Books to run one after the other; each runs only if the previous one succeeded.
    pub phases: Vec<Phase>,
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The action makes no sense in this state (e.g. Pause of a draft).
    #[error("cannot {action} a deployment in state {state}")]
    InvalidTransition {
        /// Current state.
        state: State,
        /// The action.
        action: &'static str,
    },
    /// The scope does not allow dropping.
    #[error("the scope of this deployment does not allow Drop (allow_drop is false)")]
    DropNotAllowed,
    /// Another operation of the deployment has not ended.
    #[error("another operation of this deployment has not ended")]
    Busy,
}

/// Decides what `action` does to a deployment in `state` whose scope has `allow_drop`.
///
/// A failed book leaves the state where the action put it, so the same action can run again:
/// Deploy is accepted in `initialize` (the first Deploy failed), Pause in `pause`.
pub fn plan(state: State, action: Action, allow_drop: bool) -> Result<Plan, Refusal> {
    let phases = match (state, action) {
        (State::Dropped, _) => {
            return Err(Refusal::InvalidTransition {
                state,
                action: action.as_str(),
            });
        }
        (_, Action::Drop) if !allow_drop => return Err(Refusal::DropNotAllowed),
        (_, Action::Drop) => vec![Phase::Drop],
        (State::Draft | State::Initialize, Action::Deploy) => {
            vec![Phase::Initialize, Phase::Deploy]
        }
        (State::Deploy | State::Pause, Action::Deploy) => vec![Phase::Deploy],
        (State::Deploy | State::Pause, Action::Pause) => vec![Phase::Pause],
        (State::Draft | State::Initialize, Action::Pause) => {
            return Err(Refusal::InvalidTransition {
                state,
                action: action.as_str(),
            });
        }
    };
    Ok(Plan { phases })
}

/// The state a deployment enters when the book of `phase` starts.
pub fn state_when_started(phase: Phase, current: State) -> State {
    match phase {
        Phase::Drop => current,
        other => other.state(),
    }
}

/// The state a deployment is in once the book of `phase` succeeded.
pub fn state_when_succeeded(phase: Phase) -> State {
    phase.state()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (state, action) pair, with and without `allow_drop`.
    #[test]
    fn every_state_and_action() {
        use Phase as P;
        use State::{Deploy, Draft, Dropped, Initialize, Pause};
        let deploy_from_start = Ok(Plan {
            phases: vec![P::Initialize, P::Deploy],
        });
        let redeploy = Ok(Plan {
            phases: vec![P::Deploy],
        });
        let pause = Ok(Plan {
            phases: vec![P::Pause],
        });
        let drop = Ok(Plan {
            phases: vec![P::Drop],
        });
        let invalid = |state, action: Action| {
            Err(Refusal::InvalidTransition {
                state,
                action: action.as_str(),
            })
        };
        let table = [
            (Draft, Action::Deploy, deploy_from_start.clone()),
            (Draft, Action::Pause, invalid(Draft, Action::Pause)),
            (Draft, Action::Drop, drop.clone()),
            (Initialize, Action::Deploy, deploy_from_start),
            (
                Initialize,
                Action::Pause,
                invalid(Initialize, Action::Pause),
            ),
            (Initialize, Action::Drop, drop.clone()),
            (Deploy, Action::Deploy, redeploy.clone()),
            (Deploy, Action::Pause, pause.clone()),
            (Deploy, Action::Drop, drop.clone()),
            (Pause, Action::Deploy, redeploy),
            (Pause, Action::Pause, pause),
            (Pause, Action::Drop, drop),
            (Dropped, Action::Deploy, invalid(Dropped, Action::Deploy)),
            (Dropped, Action::Pause, invalid(Dropped, Action::Pause)),
            (Dropped, Action::Drop, invalid(Dropped, Action::Drop)),
        ];
        assert_eq!(table.len(), State::ALL.len() * Action::ALL.len());
        for (state, action, expected) in table {
            assert_eq!(plan(state, action, true), expected, "{state} + {action:?}");
        }
    }

    #[test]
    fn drop_needs_allow_drop_in_every_live_state() {
        for state in [State::Draft, State::Initialize, State::Deploy, State::Pause] {
            assert_eq!(
                plan(state, Action::Drop, false),
                Err(Refusal::DropNotAllowed),
                "{state}"
            );
        }
    }

    #[test]
    fn states_follow_the_books() {
        assert_eq!(
            state_when_started(Phase::Initialize, State::Draft),
            State::Initialize
        );
        assert_eq!(
            state_when_started(Phase::Drop, State::Pause),
            State::Pause,
            "dropped only on success"
        );
        assert_eq!(state_when_succeeded(Phase::Drop), State::Dropped);
        assert_eq!(state_when_succeeded(Phase::Deploy), State::Deploy);
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
    }
}
