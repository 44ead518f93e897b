//! Plain lines, one per step change: for pipes and CI logs, where a spinner would be noise.

use eyrie_proto::v1::{Job, JobEvent, JobStatus, Operation, OperationStatus};

use super::{Change, Progress, Tracker};
use crate::client::{
    deployments::operation_summary,
    output::{Label as _, human, outln},
};

/// Prints every change as it comes.
#[derive(Debug, Default)]
pub struct Lines {
    tracker: Tracker,
}

impl Progress for Lines {
    fn operation(&mut self, operation: &Operation) {
        outln!("{}", operation_line(operation));
    }

    fn job(&mut self, job: &Job) {
        self.tracker = Tracker::new(job);
        outln!("{}", job_line(job));
    }

    fn event(&mut self, event: &JobEvent) {
        if let Some(line) = self.tracker.change(event).as_ref().and_then(text) {
            outln!("{line}");
        }
    }

    fn waiting(&mut self, _what: &str) {}

    fn finished(&mut self, _job: &Job) {}
}

/// `operation projects/.../operations/3: deploy succeeded`, with the failure message if any.
pub fn operation_line(operation: &Operation) -> String {
    let mut line = format!(
        "operation {}: {}",
        operation.name,
        operation_summary(operation)
    );
    // While it runs, where each book is: a Deploy from draft shows its two at once.
    if operation.status() == OperationStatus::Running && !operation.phases.is_empty() {
        let phases: Vec<String> = operation
            .phases
            .iter()
            .map(|phase| format!("{} {}", phase.phase().label(), phase.status().label()))
            .collect();
        line.push_str(&format!(" (phases: {})", phases.join(", ")));
    }
    if !operation.message.is_empty() {
        line.push_str(": ");
        line.push_str(&operation.message);
    }
    line
}

/// `job projects/.../jobs/0194...: initialize book books/none-initialize`.
pub fn job_line(job: &Job) -> String {
    format!(
        "job {}: {} book {}",
        job.name,
        job.phase().label(),
        job.book
    )
}

/// The line for a change; none for changes a log reader does not need.
pub fn text(change: &Change) -> Option<String> {
    Some(match change {
        Change::Queued | Change::Started { takeover: false } => return None,
        Change::Started { takeover: true } => {
            "job taken over by another worker; the interrupted step runs again".to_owned()
        }
        Change::StepStarted { step, attempt, .. } if *attempt <= 1 => format!("{step}: started"),
        Change::StepStarted { step, attempt, .. } => format!("{step}: attempt {attempt} started"),
        Change::StepLog { line, .. } => format!("    {line}"),
        Change::StepRetrying {
            step,
            attempt,
            error,
            backoff,
        } => {
            let wait = backoff
                .map(|b| format!(" in {}", human(b)))
                .unwrap_or_default();
            format!("{step}: attempt {attempt} failed, retrying{wait}: {error}")
        }
        Change::StepSucceeded { step, took } => format!("{step}: succeeded{}", took_text(*took)),
        Change::StepFailed { step, took, error } => {
            format!("{step}: failed{}: {error}", took_text(*took))
        }
        Change::StepSkipped { step, reason } => skipped_line(step, reason),
        Change::Ended {
            status,
            message,
            took,
        } => {
            let mut line = format!("job {}{}", status.label(), took_text(*took));
            if *status != JobStatus::Succeeded && !message.is_empty() {
                line.push_str(": ");
                line.push_str(message);
            }
            line
        }
    })
}

/// `[3/4] Delete the Ingress: skipped: "not deployment.parameters.ingress_host" is false`.
pub fn skipped_line(step: &str, reason: &str) -> String {
    if reason.is_empty() {
        format!("{step}: skipped")
    } else {
        format!("{step}: skipped: {reason}")
    }
}

fn took_text(took: Option<std::time::Duration>) -> String {
    took.map(|took| format!(" in {}", human(took)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lines_name_the_step_and_its_outcome() {
        let step = "[1/2] Apply".to_owned();
        assert_eq!(
            text(&Change::StepSucceeded {
                step: step.clone(),
                took: Some(Duration::from_millis(420)),
            })
            .unwrap(),
            "[1/2] Apply: succeeded in 0.4s"
        );
        assert_eq!(
            text(&Change::StepFailed {
                step,
                took: None,
                error: "not found".into(),
            })
            .unwrap(),
            "[1/2] Apply: failed: not found"
        );
        assert_eq!(
            text(&Change::Ended {
                status: JobStatus::Failed,
                message: "step 1 failed".into(),
                took: Some(Duration::from_secs(2)),
            })
            .unwrap(),
            "job failed in 2.0s: step 1 failed"
        );
        assert_eq!(text(&Change::Queued), None);
    }

    #[test]
    fn a_skipped_step_says_why_when_its_condition_skipped_it() {
        let skipped = |reason: &str| {
            text(&Change::StepSkipped {
                step: "[3/4] Delete the Ingress".into(),
                reason: reason.into(),
            })
            .unwrap()
        };
        assert_eq!(
            skipped(r#""not deployment.parameters.ingress_host" is false"#),
            r#"[3/4] Delete the Ingress: skipped: "not deployment.parameters.ingress_host" is false"#
        );
        assert_eq!(skipped(""), "[3/4] Delete the Ingress: skipped");
    }
}
