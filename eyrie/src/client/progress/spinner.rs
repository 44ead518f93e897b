//! A live spinner on the running step, with its elapsed time; finished steps stay as lines above.

use std::time::Duration;

use console::style;
use eyrie_proto::v1::{Job, JobEvent, JobStatus, Operation};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    Change, Progress, Tracker,
    lines::{job_line, operation_line, skipped_line, text},
};
use crate::client::output::{human, outln, since};

/// How often the spinner turns.
const TICK: Duration = Duration::from_millis(100);

/// Draws on stdout, which is a terminal.
#[derive(Debug, Default)]
pub struct Spinner {
    tracker: Tracker,
    bar: Option<ProgressBar>,
}

impl Spinner {
    /// Replaces the spinner with one for `prefix`, already running for `elapsed`.
    fn spin(&mut self, prefix: String, message: String, elapsed: Duration) {
        self.clear();
        let style = ProgressStyle::with_template(
            "  {spinner:.cyan} {prefix} {elapsed:.dim}  {wide_msg:.dim}",
        )
        .expect("the spinner template is valid");
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout())
            .with_style(style)
            .with_prefix(prefix)
            .with_message(message)
            .with_elapsed(elapsed);
        bar.enable_steady_tick(TICK);
        self.bar = Some(bar);
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Prints a line above the spinner.
    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => outln!("{line}"),
        }
    }

    fn show(&mut self, change: Change) {
        match change {
            Change::Queued => self.spin(
                String::new(),
                "queued, waiting for a worker".into(),
                Duration::ZERO,
            ),
            Change::Started { takeover } => {
                if takeover {
                    self.print(&text(&change).unwrap_or_default());
                }
                self.spin(String::new(), "starting".into(), Duration::ZERO);
            }
            Change::StepStarted { step, attempt, at } => {
                let message = if attempt > 1 {
                    format!("attempt {attempt}")
                } else {
                    String::new()
                };
                self.spin(step, message, since(at.as_ref()));
            }
            Change::StepLog { line, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(line);
                }
            }
            Change::StepRetrying {
                ref step,
                attempt,
                ref error,
                backoff,
            } => {
                self.print(&format!(
                    "  {} {step}: attempt {attempt} failed: {error}",
                    style("↻").yellow()
                ));
                if let Some(bar) = &self.bar {
                    let wait = backoff
                        .map(|b| format!(" in {}", human(b)))
                        .unwrap_or_default();
                    bar.set_message(format!("retrying{wait}"));
                }
            }
            Change::StepSucceeded { step, took } => {
                self.clear();
                outln!("  {} {step}{}", style("✓").green(), took_suffix(took));
            }
            Change::StepFailed { step, took, error } => {
                self.clear();
                outln!(
                    "  {} {step}{}: {error}",
                    style("✗").red(),
                    took_suffix(took)
                );
            }
            Change::StepSkipped { step, reason } => {
                let line = format!("- {}", skipped_line(&step, &reason));
                self.print(&format!("  {}", style(line).dim()));
            }
            Change::Ended { status, .. } => {
                self.clear();
                let line = text(&change).unwrap_or_default();
                if status == JobStatus::Succeeded {
                    outln!("{} {line}", style("✓").green().bold());
                } else {
                    outln!("{} {line}", style("✗").red().bold());
                }
            }
        }
    }
}

fn took_suffix(took: Option<Duration>) -> String {
    took.map(|took| format!(" {}", style(human(took)).dim()))
        .unwrap_or_default()
}

impl Progress for Spinner {
    fn operation(&mut self, operation: &Operation) {
        self.clear();
        outln!("{}", operation_line(operation));
    }

    fn job(&mut self, job: &Job) {
        self.clear();
        self.tracker = Tracker::new(job);
        outln!("{}", style(job_line(job)).bold());
    }

    fn event(&mut self, event: &JobEvent) {
        if let Some(change) = self.tracker.change(event) {
            self.show(change);
        }
    }

    fn waiting(&mut self, what: &str) {
        self.spin(String::new(), what.to_owned(), Duration::ZERO);
    }

    fn finished(&mut self, _job: &Job) {
        self.clear();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.clear();
    }
}
