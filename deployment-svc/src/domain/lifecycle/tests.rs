//! The transition table, whole: every (state, slot, event) has exactly one row below saying what
//! the machine must answer, so a state, slot or event added without rows fails here.

use super::*;

impl Slot {
    /// Every slot.
    const ALL: [Self; 9] = [
        Self::Idle,
        Self::Starting(Phase::Initialize),
        Self::Starting(Phase::Deploy),
        Self::Starting(Phase::Pause),
        Self::Starting(Phase::Drop),
        Self::Running(Phase::Initialize),
        Self::Running(Phase::Deploy),
        Self::Running(Phase::Pause),
        Self::Running(Phase::Drop),
    ];
}

impl EventKind {
    /// Every kind.
    const ALL: [Self; 9] = [
        Self::AskDeploy,
        Self::AskPause,
        Self::AskDrop,
        Self::JobStarted,
        Self::JobNotStarted,
        Self::JobSucceeded,
        Self::JobFailed,
        Self::JobCancelled,
        Self::Reconcile,
    ];

    fn asks(self) -> bool {
        matches!(self, Self::AskDeploy | Self::AskPause | Self::AskDrop)
    }
}

const JOB: &str = "job-1";

/// The operation at `slot` an event of `kind` is about: for an ask, the running operation (none
/// when idle); for other events, an operation at that slot (idle: one that ended with [`JOB`]).
/// Running operations have [`JOB`] as their current job; an initialize phase is followed by
/// deploy, as in a Deploy from draft.
fn operation(slot: Slot, kind: EventKind, jobs: &[String]) -> Option<OperationView<'_>> {
    let (phase, running) = match slot {
        Slot::Idle if kind.asks() => return None,
        Slot::Idle => (Phase::Deploy, false),
        Slot::Starting(phase) | Slot::Running(phase) => (phase, true),
    };
    let phases: &'static [Phase] = match phase {
        Phase::Initialize => &[Phase::Initialize, Phase::Deploy],
        Phase::Deploy => &[Phase::Deploy],
        Phase::Pause => &[Phase::Pause],
        Phase::Drop => &[Phase::Drop],
    };
    let started = !matches!(slot, Slot::Starting(_));
    Some(OperationView {
        phases,
        phase_index: 0,
        jobs: if started { jobs } else { &[] },
        running,
    })
}

fn event(kind: EventKind) -> Event<'static> {
    let ended = |end| Event::JobEnded { job: JOB, end };
    match kind {
        EventKind::AskDeploy => Event::Asked {
            action: Action::Deploy,
            allow_drop: true,
        },
        EventKind::AskPause => Event::Asked {
            action: Action::Pause,
            allow_drop: true,
        },
        EventKind::AskDrop => Event::Asked {
            action: Action::Drop,
            allow_drop: true,
        },
        EventKind::JobStarted => Event::JobStarted {
            phase_index: 0,
            job: JOB,
        },
        EventKind::JobNotStarted => Event::JobNotStarted {
            phase_index: 0,
            reason: "refused",
        },
        EventKind::JobSucceeded => ended(JobEnd::Succeeded),
        EventKind::JobFailed => ended(JobEnd::Failed("step 2 failed")),
        EventKind::JobCancelled => ended(JobEnd::Cancelled("")),
        EventKind::Reconcile => Event::Reconcile,
    }
}

/// What a row expects.
enum Expect {
    /// This decision, given the deployment's state.
    Exactly(Box<dyn Fn(State) -> Decision>),
    /// An unexpected event (its description is for people).
    Unexpected,
}

fn exactly(decision: impl Fn(State) -> Decision + 'static) -> Expect {
    Expect::Exactly(Box::new(decision))
}

fn apply(
    state: State,
    operation: Option<OperationChange>,
    running_jobs: Option<i32>,
    effects: &[Effect],
) -> Decision {
    Decision::Apply(Transition {
        state,
        operation,
        running_jobs,
        effects: effects.to_vec(),
    })
}

fn begins(phases: &'static [Phase], state: Option<State>) -> Expect {
    exactly(move |current| {
        apply(
            state.unwrap_or(current),
            Some(OperationChange::Begin(phases.to_vec())),
            None,
            &[Effect::StartJob, Effect::Publish],
        )
    })
}

fn invalid(action: Action) -> Expect {
    exactly(move |state| {
        Decision::Refused(Refusal::InvalidTransition {
            state,
            action: action.as_str(),
        })
    })
}

fn fails(message: &'static str) -> Expect {
    exactly(move |state| {
        apply(
            state,
            Some(OperationChange::Fail(message.to_owned())),
            Some(0),
            &[Effect::Publish],
        )
    })
}

fn succeeds(state: State) -> Expect {
    exactly(move |_| {
        apply(
            state,
            Some(OperationChange::Succeed),
            Some(0),
            &[Effect::Publish],
        )
    })
}

/// One row: these states × these slots × these events → what the machine answers.
type Row = (Vec<State>, Vec<Slot>, Vec<EventKind>, Expect);

/// The rows.
fn table() -> Vec<Row> {
    use EventKind as E;
    use Phase as P;
    use State::{Deploy, Draft, Dropped, Initialize, Pause};
    let live = vec![Draft, Initialize, Deploy, Pause];
    let at = |phase| vec![Slot::Starting(phase), Slot::Running(phase)];
    let asks = vec![E::AskDeploy, E::AskPause, E::AskDrop];
    let outcomes = vec![E::JobSucceeded, E::JobFailed, E::JobCancelled];
    let operation_events = vec![
        E::JobStarted,
        E::JobNotStarted,
        E::JobSucceeded,
        E::JobFailed,
        E::JobCancelled,
        E::Reconcile,
    ];
    // Where a phase can run: the state it puts the deployment in (a drop: any live state).
    let homes = [
        (P::Initialize, vec![Initialize]),
        (P::Deploy, vec![Deploy]),
        (P::Pause, vec![Pause]),
        (P::Drop, live.clone()),
    ];
    let mut rows = vec![
        // Asked, with no operation running: the plan of state.rs.
        (
            vec![Draft, Initialize],
            vec![Slot::Idle],
            vec![E::AskDeploy],
            begins(&[P::Initialize, P::Deploy], Some(Initialize)),
        ),
        (
            vec![Deploy, Pause],
            vec![Slot::Idle],
            vec![E::AskDeploy],
            begins(&[P::Deploy], Some(Deploy)),
        ),
        (
            vec![Draft, Initialize],
            vec![Slot::Idle],
            vec![E::AskPause],
            invalid(Action::Pause),
        ),
        (
            vec![Deploy, Pause],
            vec![Slot::Idle],
            vec![E::AskPause],
            begins(&[P::Pause], Some(Pause)),
        ),
        // A drop keeps the state until its book succeeded.
        (
            live.clone(),
            vec![Slot::Idle],
            vec![E::AskDrop],
            begins(&[P::Drop], None),
        ),
        (
            vec![Dropped],
            vec![Slot::Idle],
            vec![E::AskDeploy],
            invalid(Action::Deploy),
        ),
        (
            vec![Dropped],
            vec![Slot::Idle],
            vec![E::AskPause],
            invalid(Action::Pause),
        ),
        (
            vec![Dropped],
            vec![Slot::Idle],
            vec![E::AskDrop],
            invalid(Action::Drop),
        ),
        // Events about an operation that ended: repeats.
        (
            State::ALL.to_vec(),
            vec![Slot::Idle],
            operation_events.clone(),
            exactly(|_| Decision::Repeat),
        ),
    ];
    for (phase, states) in &homes {
        let (phase, states) = (*phase, states.clone());
        let starting = vec![Slot::Starting(phase)];
        let running = vec![Slot::Running(phase)];
        rows.extend([
            // One operation at a time.
            (
                states.clone(),
                at(phase),
                asks.clone(),
                exactly(|_| Decision::Refused(Refusal::Busy)),
            ),
            (
                states.clone(),
                starting.clone(),
                vec![E::JobStarted],
                exactly(|state| {
                    apply(
                        state,
                        Some(OperationChange::RecordJob),
                        Some(1),
                        &[Effect::Publish],
                    )
                }),
            ),
            (
                states.clone(),
                starting.clone(),
                vec![E::JobNotStarted],
                fails("refused"),
            ),
            // An outcome before its job's start was recorded: the reconciler brings it later.
            (
                states.clone(),
                starting.clone(),
                outcomes.clone(),
                exactly(|_| Decision::Later),
            ),
            (
                states.clone(),
                starting,
                vec![E::Reconcile],
                exactly(|state| apply(state, None, None, &[Effect::StartJob])),
            ),
            // The start answered twice, or a refusal after the job started after all.
            (
                states.clone(),
                running.clone(),
                vec![E::JobStarted, E::JobNotStarted],
                exactly(|_| Decision::Repeat),
            ),
            (
                states.clone(),
                running.clone(),
                vec![E::JobFailed],
                fails("step 2 failed"),
            ),
            (
                states.clone(),
                running.clone(),
                vec![E::JobCancelled],
                fails("the job was cancelled"),
            ),
            (
                states.clone(),
                running.clone(),
                vec![E::Reconcile],
                exactly(|state| apply(state, None, None, &[Effect::AskOutcome])),
            ),
        ]);
        let succeeded = match phase {
            // Initialize is followed by deploy, which starts at once.
            P::Initialize => exactly(|_| {
                apply(
                    Deploy,
                    Some(OperationChange::NextPhase),
                    None,
                    &[Effect::StartJob, Effect::Publish],
                )
            }),
            P::Deploy => succeeds(Deploy),
            P::Pause => succeeds(Pause),
            P::Drop => succeeds(Dropped),
        };
        rows.push((states, running, vec![E::JobSucceeded], succeeded));
        // A deployment whose state does not fit the phase its operation runs.
        let elsewhere: Vec<State> = State::ALL
            .into_iter()
            .filter(|state| !homes.iter().any(|(p, s)| *p == phase && s.contains(state)))
            .collect();
        rows.push((
            elsewhere,
            at(phase),
            EventKind::ALL.to_vec(),
            Expect::Unexpected,
        ));
    }
    rows
}

#[test]
fn every_state_slot_and_event_has_exactly_one_row_and_the_machine_answers_it() {
    let table = table();
    let jobs = [JOB.to_owned()];
    let mut checked = 0;
    for state in State::ALL {
        for slot in Slot::ALL {
            for kind in EventKind::ALL {
                let rows: Vec<&Expect> = table
                    .iter()
                    .filter(|(states, slots, kinds, _)| {
                        states.contains(&state) && slots.contains(&slot) && kinds.contains(&kind)
                    })
                    .map(|(.., expect)| expect)
                    .collect();
                let [expect] = rows.as_slice() else {
                    panic!("{state} {slot:?} {kind:?}: {} rows, not one", rows.len());
                };
                let view = operation(slot, kind, &jobs);
                if let Some(view) = &view {
                    assert_eq!(view.slot(), slot, "the view is at its slot");
                }
                let event = event(kind);
                assert_eq!(event.kind(), kind);
                let decision = decide(state, view.as_ref(), &event);
                match expect {
                    Expect::Exactly(expected) => {
                        assert_eq!(decision, expected(state), "{state} {slot:?} {kind:?}")
                    }
                    Expect::Unexpected => assert!(
                        matches!(decision, Decision::Unexpected(_)),
                        "{state} {slot:?} {kind:?}: {decision:?}"
                    ),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 9 * 9);
}

#[test]
fn drop_needs_a_scope_that_allows_it() {
    let asked = Event::Asked {
        action: Action::Drop,
        allow_drop: false,
    };
    assert_eq!(
        decide(State::Deploy, None, &asked),
        Decision::Refused(Refusal::DropNotAllowed)
    );
}

#[test]
fn jobs_the_operation_does_not_know_are_unexpected_and_old_ones_repeats() {
    let jobs = ["init-job".to_owned(), "deploy-job".to_owned()];
    let view = OperationView {
        phases: &[Phase::Initialize, Phase::Deploy],
        phase_index: 1,
        jobs: &jobs,
        running: true,
    };
    let ended = |job| Event::JobEnded {
        job,
        end: JobEnd::Succeeded,
    };
    assert_eq!(
        decide(State::Deploy, Some(&view), &ended("init-job")),
        Decision::Repeat,
        "the first phase's outcome reported again"
    );
    assert!(matches!(
        decide(State::Deploy, Some(&view), &ended("stranger")),
        Decision::Unexpected(text) if text.contains("stranger")
    ));
    let second = Event::JobStarted {
        phase_index: 1,
        job: "another",
    };
    assert!(matches!(
        decide(State::Deploy, Some(&view), &second),
        Decision::Unexpected(text) if text.contains("another") && text.contains("deploy-job")
    ));
    let late = Event::JobStarted {
        phase_index: 0,
        job: "late",
    };
    assert_eq!(
        decide(State::Deploy, Some(&view), &late),
        Decision::Repeat,
        "a start for a phase that is over"
    );
    let ended_view = OperationView {
        running: false,
        ..view
    };
    let after_end = Event::JobStarted {
        phase_index: 1,
        job: "orphan",
    };
    assert!(matches!(
        decide(State::Deploy, Some(&ended_view), &after_end),
        Decision::Unexpected(text) if text.contains("orphan")
    ));
}
