//! `GET /_eyrie/p/<project>/dg/<group>/d/<deployment>/jobs/<job>/events`: a job's page, live.
//!
//! Fed by WatchJob, called in process (so through the gateway's `JobFeeds`: one upstream
//! stream per job, whoever watches). The stream starts from the job as GetJob returns it and
//! the job's events from the first: those up to the job's `last_sequence` only give the log
//! tail, then the whole page is sent once (events `job`, `step-<index>` for every step,
//! `log-step`), so that a reconnecting EventSource, whatever it missed, is up to date. Each
//! later event sends what it changed, with its sequence as id:
//!
//! - `job`: the status block (`#job-status`), when the job starts or ends;
//! - `step-<index>`: the step's row (`#step-<index>`), when it starts, retries, ends;
//! - `log-step`: the log section (`#log`), when another step starts (its log is shown);
//! - `log`: the step's new lines, appended to `#log-lines`;
//! - `end`: the job ended; the page stops following.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use eyrie_proto::v1::{
    self as pb,
    job_event::{Kind, StepLog},
};
use http::HeaderMap;

use super::{Gone, Outbox, SessionCheck, refused, respond};
use crate::console::{
    Console, PageError, SignedIn,
    pages::job::{
        JobSummary, LOG_TAIL, LogFragment, LogLines, LogView, StatusFragment, StepFragment,
        StepRow, job_name, log_line, log_step,
    },
};

/// `GET /_eyrie/p/{project}/dg/{group}/d/{deployment}/jobs/{job}/events`.
pub async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, PageError>,
    Path((project, group, deployment, job)): Path<(String, String, String, String)>,
) -> Response {
    let signed_in = match signed_in {
        Ok(signed_in) => signed_in,
        Err(error) => return refused(error),
    };
    match open(&signed_in, &project, &group, &deployment, &job).await {
        Ok((progress, watch)) => respond(SessionCheck::new(console, &headers), move |outbox| {
            progress.run(watch, outbox)
        }),
        Err(error) => refused(error),
    }
}

async fn open(
    signed_in: &SignedIn,
    project: &str,
    group: &str,
    deployment: &str,
    job: &str,
) -> Result<(Progress, tonic::Streaming<pb::WatchJobResponse>), PageError> {
    let name = job_name(project, group, deployment, job)?;
    let found = signed_in
        .api()
        .jobs()
        .get_job(pb::GetJobRequest { name: name.clone() })
        .await?
        .into_inner();
    // From the first event: the log tail is read from them (the shared feed keeps a job's
    // events in memory, so this costs no call to the runner).
    let watch = signed_in
        .api()
        .jobs()
        .watch_job(pb::WatchJobRequest {
            name,
            after_sequence: 0,
        })
        .await?
        .into_inner();
    let log_step = log_step(&found).map(|step| step.index);
    Ok((
        Progress {
            job: found,
            log_step,
        },
        watch,
    ))
}

/// The job as the page shows it, kept up to date by its events.
#[derive(Debug)]
struct Progress {
    job: pb::Job,
    /// The step whose log the page shows.
    log_step: Option<u32>,
}

/// What one event changed on the page.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changed {
    job: bool,
    step: Option<u32>,
    log_step: bool,
    line: Option<String>,
}

impl Progress {
    async fn run(
        mut self,
        mut watch: tonic::Streaming<pb::WatchJobResponse>,
        outbox: Outbox,
    ) -> Result<(), Gone> {
        let caught_up = self.job.last_sequence;
        let mut tail = Tail::default();
        let mut sent_page = false;
        loop {
            let event = match watch.message().await {
                Ok(Some(pb::WatchJobResponse {
                    kind: Some(pb::watch_job_response::Kind::Event(event)),
                })) => event,
                Ok(Some(_)) => continue,
                // The job ended: its last event was sent.
                Ok(None) => break,
                // The EventSource reconnects and gets the whole page again.
                Err(_) => return Ok(()),
            };
            if event.sequence <= caught_up {
                // Already in the job GetJob returned: only its log lines are new to the page.
                if let Some(Kind::StepLog(line)) = &event.kind
                    && Some(line.step_index) == self.log_step
                {
                    tail.push(line);
                }
                if event.sequence < caught_up {
                    continue;
                }
            }
            if !sent_page {
                sent_page = true;
                self.send_page(&tail, event.sequence, &outbox).await?;
                if event.sequence <= caught_up {
                    continue;
                }
            }
            let changed = self.apply(&event);
            self.send(&changed, event.sequence, &outbox).await?;
        }
        if !sent_page {
            self.send_page(&tail, caught_up, &outbox).await?;
        }
        outbox.end("the job ended").await
    }

    /// Sends every part of the page, the log with `tail`.
    async fn send_page(&self, tail: &Tail, sequence: u64, outbox: &Outbox) -> Result<(), Gone> {
        let id = sequence.to_string();
        let now = chrono::Utc::now();
        let status = StatusFragment {
            job: JobSummary::new(&self.job, now),
        };
        outbox.send("job", Some(&id), &rendered(&status)).await?;
        for step in &self.job.steps {
            let row = StepFragment {
                step: StepRow::new(step, now),
            };
            outbox
                .send(&format!("step-{}", step.index), Some(&id), &rendered(&row))
                .await?;
        }
        let log = LogFragment {
            log: LogView::new(self.shown_step(), &tail.lines, tail.earlier, false),
        };
        outbox.send("log-step", Some(&id), &rendered(&log)).await
    }

    /// Sends what one event changed.
    async fn send(&self, changed: &Changed, sequence: u64, outbox: &Outbox) -> Result<(), Gone> {
        let id = sequence.to_string();
        let now = chrono::Utc::now();
        if let Some(index) = changed.step
            && let Some(step) = self.job.steps.iter().find(|step| step.index == index)
        {
            let row = StepFragment {
                step: StepRow::new(step, now),
            };
            outbox
                .send(&format!("step-{index}"), Some(&id), &rendered(&row))
                .await?;
        }
        if changed.log_step {
            let log = LogFragment {
                log: LogView::new(self.shown_step(), &[], 0, false),
            };
            outbox.send("log-step", Some(&id), &rendered(&log)).await?;
        }
        if let Some(line) = &changed.line {
            let lines = LogLines { text: line.clone() };
            outbox.send("log", Some(&id), &rendered(&lines)).await?;
        }
        if changed.job {
            let status = StatusFragment {
                job: JobSummary::new(&self.job, now),
            };
            outbox.send("job", Some(&id), &rendered(&status)).await?;
        }
        Ok(())
    }

    fn shown_step(&self) -> Option<&pb::JobStep> {
        let index = self.log_step?;
        self.job.steps.iter().find(|step| step.index == index)
    }

    /// Takes `event` into the job; what it changed.
    fn apply(&mut self, event: &pb::JobEvent) -> Changed {
        let mut changed = Changed::default();
        let time = event.time;
        let Some(kind) = &event.kind else {
            return changed;
        };
        match kind {
            Kind::JobQueued(_) => {}
            Kind::JobStarted(_) => {
                self.job.status = pb::JobStatus::Running.into();
                self.job.start_time = self.job.start_time.or(time);
                changed.job = true;
            }
            Kind::StepStarted(started) => {
                if self.job.status() == pb::JobStatus::Queued {
                    self.job.status = pb::JobStatus::Running.into();
                    self.job.start_time = self.job.start_time.or(time);
                    changed.job = true;
                }
                if let Some(step) = self.step(started.step_index, &mut changed) {
                    step.status = pb::StepStatus::Running.into();
                    step.attempts += 1;
                    step.start_time = step.start_time.or(time);
                    step.end_time = None;
                }
                if self.log_step != Some(started.step_index) {
                    self.log_step = Some(started.step_index);
                    changed.log_step = true;
                }
            }
            Kind::StepLog(line) => {
                if self.log_step == Some(line.step_index) {
                    changed.line = Some(log_line(&line.line));
                }
            }
            Kind::StepRetrying(retrying) => {
                let backoff = retrying
                    .backoff
                    .map(|backoff| format!(" in {} s", backoff.seconds))
                    .unwrap_or_default();
                let message = format!(
                    "attempt {} failed: {}; trying again{backoff}",
                    retrying.attempt, retrying.error
                );
                if let Some(step) = self.step(retrying.step_index, &mut changed) {
                    step.message = message;
                }
            }
            Kind::StepSucceeded(succeeded) => {
                if let Some(step) = self.step(succeeded.step_index, &mut changed) {
                    step.status = pb::StepStatus::Succeeded.into();
                    step.end_time = time;
                    step.message.clear();
                }
            }
            Kind::StepFailed(failed) => {
                if let Some(step) = self.step(failed.step_index, &mut changed) {
                    step.status = pb::StepStatus::Failed.into();
                    step.end_time = time;
                    step.message.clone_from(&failed.error);
                }
            }
            Kind::StepSkipped(skipped) => {
                if let Some(step) = self.step(skipped.step_index, &mut changed) {
                    step.status = pb::StepStatus::Skipped.into();
                    step.message = if skipped.reason.is_empty() {
                        String::new()
                    } else {
                        format!("skipped: {}", skipped.reason)
                    };
                }
            }
            Kind::JobEnded(ended) => {
                self.job.status = ended.status;
                self.job.message.clone_from(&ended.message);
                self.job.end_time = time;
                changed.job = true;
            }
        }
        changed
    }

    /// Step `index`, marked as changed.
    fn step(&mut self, index: u32, changed: &mut Changed) -> Option<&mut pb::JobStep> {
        let step = self.job.steps.iter_mut().find(|step| step.index == index)?;
        changed.step = Some(index);
        Some(step)
    }
}

/// The last lines of the shown step, read from the events before the stream caught up.
#[derive(Debug, Default)]
struct Tail {
    lines: Vec<String>,
    earlier: usize,
}

impl Tail {
    fn push(&mut self, line: &StepLog) {
        if self.lines.len() == LOG_TAIL * 2 {
            // Keep at most twice the tail, dropping the older half at once.
            self.lines.drain(..LOG_TAIL);
            self.earlier += LOG_TAIL;
        }
        self.lines.push(line.line.clone());
    }
}

fn rendered(fragment: &impl Template) -> String {
    fragment.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "console: a live fragment failed to render");
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use pb::job_event::{JobEnded, StepStarted, StepSucceeded};

    use super::*;
    use crate::console::pages::job::is_active;

    fn active(progress: &Progress) -> bool {
        is_active(progress.job.status)
    }

    fn event(sequence: u64, kind: Kind) -> pb::JobEvent {
        pb::JobEvent {
            job: "projects/acme/groups/web/deployments/shop/jobs/j1".into(),
            sequence,
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + sequence as i64,
                nanos: 0,
            }),
            kind: Some(kind),
        }
    }

    fn progress() -> Progress {
        let step = |index: u32| pb::JobStep {
            index,
            name: format!("step {index}"),
            uses: "k8s.apply".into(),
            status: pb::StepStatus::Pending.into(),
            ..Default::default()
        };
        Progress {
            job: pb::Job {
                status: pb::JobStatus::Queued.into(),
                steps: vec![step(0), step(1)],
                ..Default::default()
            },
            log_step: None,
        }
    }

    #[test]
    fn events_change_the_steps_and_say_what_to_send_again() {
        let mut progress = progress();
        let started = progress.apply(&event(
            2,
            Kind::StepStarted(StepStarted {
                step_index: 0,
                attempt: 1,
            }),
        ));
        assert_eq!(
            started,
            Changed {
                job: true,
                step: Some(0),
                log_step: true,
                line: None
            }
        );
        assert_eq!(progress.job.steps[0].status(), pb::StepStatus::Running);
        assert_eq!(progress.job.steps[0].attempts, 1);

        let logged = progress.apply(&event(
            3,
            Kind::StepLog(StepLog {
                step_index: 0,
                attempt: 1,
                line: "applied <x>".into(),
            }),
        ));
        assert_eq!(logged.line.as_deref(), Some("applied <x>\n"));

        let succeeded = progress.apply(&event(
            4,
            Kind::StepSucceeded(StepSucceeded { step_index: 0 }),
        ));
        assert_eq!(succeeded.step, Some(0));
        assert!(!succeeded.job);
        assert_eq!(progress.job.steps[0].status(), pb::StepStatus::Succeeded);
        assert!(progress.job.steps[0].end_time.is_some());

        let next = progress.apply(&event(
            5,
            Kind::StepStarted(StepStarted {
                step_index: 1,
                attempt: 1,
            }),
        ));
        assert!(next.log_step && !next.job);
        assert_eq!(progress.log_step, Some(1));

        assert!(active(&progress));
        let ended = progress.apply(&event(
            6,
            Kind::JobEnded(JobEnded {
                status: pb::JobStatus::Succeeded.into(),
                message: String::new(),
            }),
        ));
        assert!(ended.job);
        assert!(!active(&progress));
    }

    #[test]
    fn an_unknown_step_changes_nothing() {
        let mut progress = progress();
        let changed = progress.apply(&event(
            2,
            Kind::StepSucceeded(StepSucceeded { step_index: 9 }),
        ));
        assert_eq!(changed, Changed::default());
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut tail = Tail::default();
        for n in 0..(LOG_TAIL * 3) {
            tail.push(&StepLog {
                step_index: 0,
                attempt: 1,
                line: n.to_string(),
            });
        }
        let view = LogView::new(None, &tail.lines, tail.earlier, false);
        assert_eq!(view.shown, LOG_TAIL);
        assert_eq!(view.earlier, LOG_TAIL * 2);
        assert!(view.text.starts_with(&format!("{}\n", LOG_TAIL * 2)));
    }
}
