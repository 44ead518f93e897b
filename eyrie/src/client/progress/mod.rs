//! Showing a followed job as it runs: a spinner on a terminal, plain lines in a pipe or a CI log,
//! one JSON object per line for scripts.

mod lines;
mod spinner;

use std::{collections::HashMap, io::IsTerminal as _, time::Duration};

use eyrie_proto::v1::{Job, JobEvent, JobStatus, Operation, job_event::Kind};
use prost_types::Timestamp;

use super::output::{Format, Output, between, outln, to_json};

/// Receives what a watch sees, in order.
pub trait Progress {
    /// The operation being followed: once as accepted, once as ended.
    fn operation(&mut self, operation: &Operation);
    /// A job about to be followed; its events come next.
    fn job(&mut self, job: &Job);
    /// One event of the current job.
    fn event(&mut self, event: &JobEvent);
    /// Nothing to show until the server says more.
    fn waiting(&mut self, what: &str);
    /// A job watched on its own ended; this is its final state.
    fn finished(&mut self, job: &Job);
}

/// The display that suits `output` and where stdout goes.
pub fn for_output(output: Output) -> Box<dyn Progress> {
    match output.format {
        Format::Json => Box::new(JsonLines),
        Format::Text if std::io::stdout().is_terminal() => Box::new(spinner::Spinner::default()),
        Format::Text => Box::new(lines::Lines::default()),
    }
}

/// Each message as one JSON object, keyed by what it is: `{"job": ...}`, `{"event": ...}`,
/// `{"operation": ...}`.
struct JsonLines;

impl JsonLines {
    fn print(key: &str, value: serde_json::Value) {
        outln!("{}", serde_json::json!({ key: value }));
    }
}

impl Progress for JsonLines {
    fn operation(&mut self, operation: &Operation) {
        Self::print("operation", to_json(operation));
    }

    fn job(&mut self, job: &Job) {
        Self::print("job", to_json(job));
    }

    fn event(&mut self, event: &JobEvent) {
        Self::print("event", to_json(event));
    }

    fn waiting(&mut self, _what: &str) {}

    fn finished(&mut self, job: &Job) {
        Self::print("job", to_json(job));
    }
}

/// What an event means for a person, with its step already named (`[2/3] Apply the Service`).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Queued,
    Started {
        takeover: bool,
    },
    StepStarted {
        step: String,
        attempt: u32,
        at: Option<Timestamp>,
    },
    StepLog {
        step: String,
        line: String,
    },
    StepRetrying {
        step: String,
        attempt: u32,
        error: String,
        backoff: Option<Duration>,
    },
    StepSucceeded {
        step: String,
        took: Option<Duration>,
    },
    StepFailed {
        step: String,
        took: Option<Duration>,
        error: String,
    },
    StepSkipped {
        step: String,
        /// Why, when its condition is false; empty for a step the job did not reach.
        reason: String,
    },
    Ended {
        status: JobStatus,
        message: String,
        took: Option<Duration>,
    },
}

/// Turns one job's events into changes, remembering when each step and the job started.
#[derive(Debug, Default)]
pub struct Tracker {
    step_names: Vec<String>,
    step_starts: HashMap<u32, Timestamp>,
    job_start: Option<Timestamp>,
}

impl Tracker {
    /// Tracks `job`, whose steps name the events' step indexes.
    pub fn new(job: &Job) -> Self {
        let step_names = if job.steps.is_empty() {
            let book = job.book_content.as_ref();
            book.map(|book| book.steps.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default()
        } else {
            job.steps.iter().map(|step| step.name.clone()).collect()
        };
        Self {
            step_names,
            step_starts: HashMap::new(),
            job_start: job.start_time.or(job.create_time),
        }
    }

    /// The change `event` makes; none for events without a kind.
    pub fn change(&mut self, event: &JobEvent) -> Option<Change> {
        let at = event.time;
        Some(match event.kind.as_ref()? {
            Kind::JobQueued(_) => Change::Queued,
            Kind::JobStarted(started) => {
                if self.job_start.is_none() {
                    self.job_start = at;
                }
                Change::Started {
                    takeover: started.takeover,
                }
            }
            Kind::StepStarted(started) => {
                if let Some(at) = at {
                    self.step_starts.entry(started.step_index).or_insert(at);
                }
                Change::StepStarted {
                    step: self.step(started.step_index),
                    attempt: started.attempt,
                    at,
                }
            }
            Kind::StepLog(log) => Change::StepLog {
                step: self.step(log.step_index),
                line: log.line.clone(),
            },
            Kind::StepRetrying(retrying) => Change::StepRetrying {
                step: self.step(retrying.step_index),
                attempt: retrying.attempt,
                error: retrying.error.clone(),
                backoff: retrying
                    .backoff
                    .and_then(|backoff| Duration::try_from(backoff).ok()),
            },
            Kind::StepSucceeded(succeeded) => Change::StepSucceeded {
                step: self.step(succeeded.step_index),
                took: self.step_took(succeeded.step_index, at.as_ref()),
            },
            Kind::StepFailed(failed) => Change::StepFailed {
                step: self.step(failed.step_index),
                took: self.step_took(failed.step_index, at.as_ref()),
                error: failed.error.clone(),
            },
            Kind::StepSkipped(skipped) => Change::StepSkipped {
                step: self.step(skipped.step_index),
                reason: skipped.reason.clone(),
            },
            Kind::JobEnded(ended) => Change::Ended {
                status: ended.status(),
                message: ended.message.clone(),
                took: between(self.job_start.as_ref(), at.as_ref()),
            },
        })
    }

    /// `[2/3] Apply the Service`.
    fn step(&self, index: u32) -> String {
        let position = index as usize + 1;
        match self.step_names.get(index as usize) {
            Some(name) => format!("[{position}/{}] {name}", self.step_names.len()),
            None => format!("[{position}]"),
        }
    }

    fn step_took(&self, index: u32, end: Option<&Timestamp>) -> Option<Duration> {
        between(self.step_starts.get(&index), end)
    }
}

#[cfg(test)]
mod tests {
    use eyrie_proto::v1::{JobStep, job_event};

    use super::*;

    fn at(millis: i64) -> Option<Timestamp> {
        Some(Timestamp {
            seconds: 1_800_000_000 + millis / 1000,
            nanos: i32::try_from(millis % 1000).unwrap() * 1_000_000,
        })
    }

    fn event(sequence: u64, millis: i64, kind: Kind) -> JobEvent {
        JobEvent {
            job: "j".into(),
            sequence,
            time: at(millis),
            kind: Some(kind),
        }
    }

    #[test]
    fn steps_are_named_and_timed_from_their_first_attempt() {
        let job = Job {
            steps: vec![
                JobStep {
                    name: "Apply".into(),
                    ..Default::default()
                },
                JobStep {
                    name: "Wait".into(),
                    ..Default::default()
                },
            ],
            create_time: at(0),
            ..Default::default()
        };
        let mut tracker = Tracker::new(&job);
        let started = tracker.change(&event(
            2,
            100,
            Kind::StepStarted(job_event::StepStarted {
                step_index: 1,
                attempt: 1,
            }),
        ));
        assert_eq!(
            started,
            Some(Change::StepStarted {
                step: "[2/2] Wait".into(),
                attempt: 1,
                at: at(100),
            })
        );
        tracker.change(&event(
            3,
            900,
            Kind::StepStarted(job_event::StepStarted {
                step_index: 1,
                attempt: 2,
            }),
        ));
        let failed = tracker.change(&event(
            4,
            1600,
            Kind::StepFailed(job_event::StepFailed {
                step_index: 1,
                error: "timed out".into(),
            }),
        ));
        assert_eq!(
            failed,
            Some(Change::StepFailed {
                step: "[2/2] Wait".into(),
                took: Some(Duration::from_millis(1500)),
                error: "timed out".into(),
            })
        );
        let ended = tracker.change(&event(
            5,
            2000,
            Kind::JobEnded(job_event::JobEnded {
                status: JobStatus::Failed.into(),
                message: "step 2 failed".into(),
            }),
        ));
        assert_eq!(
            ended,
            Some(Change::Ended {
                status: JobStatus::Failed,
                message: "step 2 failed".into(),
                took: Some(Duration::from_secs(2)),
            })
        );
    }
}
