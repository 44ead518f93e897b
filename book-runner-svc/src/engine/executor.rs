//! Running one claimed job: its steps in order, on each of its clusters, with timeouts,
//! retries with backoff, cancellation, and every change recorded under the job's lease.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SubsecRound as _, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    ConnectCluster, Engine,
    lease::{Fenced, LeaseDeadline},
    steps::run_step,
};
use crate::{
    cluster::{Cluster, confined::Confined},
    domain::{
        book::StepSpec,
        confinement::Confinement,
        hosts::{AllowedHost, allowed_for_project},
        job::{EventKind, Job, JobStatus, StepStatus},
        render::{RenderError, render_step, skip_reason, with_parameters},
        snapshot::{ClusterFacts, Snapshot},
        step_kind::StepKind,
    },
    service::off_thread::{RENDER_TIME_LIMIT, render_off_thread},
    store::jobs::{Entry, Lease, StartedStep, WriteError},
};

/// Why a running job stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// Someone cancelled it.
    Cancelled,
    /// The worker lost its lease, its lease's local deadline passed before a renewal, or the
    /// process is stopping: it must not write anymore.
    LostLease,
}

/// How a job ended, as its last record stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ended {
    pub status: JobStatus,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The drivers of a deployment's clusters, with the cluster names, in order.
type ConnectedClusters = Vec<(String, Arc<dyn Cluster>)>;

/// For each cluster of a step, in order: `None` where it runs, or why its `if` skips it there.
type SkipReasons = Vec<Option<String>>;

/// What every step of one job shares, made once when the job starts.
struct Prepared {
    /// The snapshot with the book's defaults filled in; shared with the rendering threads.
    snapshot: Arc<Snapshot>,
    clusters: ConnectedClusters,
    /// What the job's steps may touch.
    rule: Confinement,
    /// What its `http.check` steps may reach; an error only a step that checks reports.
    allowed_hosts: Result<Vec<AllowedHost>, String>,
}

/// How one step ended.
enum StepEnd {
    Succeeded,
    Failed(String),
    Interrupted(Interruption),
}

/// Runs a job under `lease` until it ends or is interrupted.
pub(super) struct JobRun<'a> {
    pub engine: &'a Engine,
    pub lease: Lease,
    /// Past it, nothing more is written: neither to a cluster nor to the database.
    pub deadline: Arc<LeaseDeadline>,
    pub stop: CancellationToken,
    pub interruption: Arc<std::sync::Mutex<Option<Interruption>>>,
}

impl JobRun<'_> {
    /// Records entries, waking watchers; a lost lease, or a deadline that passes before the
    /// write is done, interrupts the run. Tells how the job ended when the entries end it.
    async fn record(&self, entries: Vec<Entry>) -> Result<Option<Ended>, Interruption> {
        if self.deadline.passed() {
            return Err(Interruption::LostLease);
        }
        // At the precision both databases keep, so the end handed to the reporter is the one
        // stored.
        let now = Utc::now().trunc_subsecs(6);
        let ended = entries.iter().find_map(|entry| match entry {
            Entry::Finish { status, message } => Some(Ended {
                status: *status,
                message: message.clone(),
                at: now,
            }),
            _ => None,
        });
        let written = tokio::select! {
            written = self.engine.store.record(&self.lease, entries, now) => written,
            () = self.deadline.expired() => return Err(Interruption::LostLease),
        };
        match written {
            Ok(events) => {
                if let Some(ended) = &ended {
                    super::metrics::job_finished(ended.status);
                }
                if !events.is_empty() {
                    self.engine.hub.wake(&self.lease.job_id);
                }
                Ok(ended)
            }
            Err(WriteError::Fenced) => Err(Interruption::LostLease),
            Err(WriteError::Store(err)) => {
                // Without the database the job cannot progress; its lease will expire and a
                // worker will take it over, re-running the interrupted step.
                tracing::error!(job = %self.lease.job_id, error = %err, "cannot record job progress; leaving the job");
                Err(Interruption::LostLease)
            }
        }
    }

    fn interrupted(&self) -> Option<Interruption> {
        if self.stop.is_cancelled() {
            Some(
                self.interruption
                    .lock()
                    .expect("lock")
                    .unwrap_or(Interruption::LostLease),
            )
        } else {
            None
        }
    }

    /// Runs every step still to run, then ends the job, and tells how. `started` is the step
    /// attempt the claim already recorded as started.
    pub async fn run(
        &self,
        job: &Job,
        started: Option<StartedStep>,
    ) -> Result<Option<Ended>, Interruption> {
        if let Some(Interruption::Cancelled) = self.interrupted() {
            return self
                .end(
                    job,
                    0,
                    JobStatus::Cancelled,
                    "cancelled".to_owned(),
                    Vec::new(),
                )
                .await;
        }
        let prepared = with_parameters(&job.book_content, &job.snapshot)
            .map_err(|err| err.to_string())
            .and_then(|snapshot| {
                let clusters = connect(self.engine.clusters.as_ref(), &snapshot)?;
                Ok(Prepared {
                    rule: Confinement::within(&snapshot.namespace, snapshot.boundary.clone())
                        .reading(snapshot.project_namespaces.iter().cloned()),
                    allowed_hosts: allowed_for_project(
                        &self.engine.settings.http_check_allow,
                        &snapshot.boundary.hosts,
                    ),
                    snapshot: Arc::new(snapshot),
                    clusters,
                })
            });
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(message) => {
                // The step the claim started fails with the reason nothing could run.
                let Some(step) = started else {
                    return self
                        .end(job, 0, JobStatus::Failed, message, Vec::new())
                        .await;
                };
                let failed = vec![
                    step_entry(
                        step.index,
                        StepStatus::Failed,
                        step.attempt,
                        message.clone(),
                    ),
                    Entry::Event(EventKind::StepFailed {
                        step_index: step.index,
                        error: message.clone(),
                    }),
                ];
                return self
                    .end(job, step.index + 1, JobStatus::Failed, message, failed)
                    .await;
            }
        };

        // The last step's success (and its last log lines) is written with the job's end, in
        // one transaction.
        let mut last_success = Vec::new();
        let last = job.book_content.steps.len().saturating_sub(1);
        for (index, step) in job.book_content.steps.iter().enumerate() {
            let state = &job.steps[index];
            if matches!(state.status, StepStatus::Succeeded | StepStatus::Skipped) {
                continue;
            }
            let attempts = match started {
                Some(started) if started.index == index => Attempts {
                    before: started.attempt - 1,
                    first_recorded: true,
                },
                _ => Attempts {
                    before: state.attempts,
                    first_recorded: false,
                },
            };
            // Decided before the step starts, from the job's snapshot, which never changes: a
            // takeover or a retry of the job decides the same way.
            let skips = match self.skip_reasons(job, (index, step), &prepared).await {
                Ok(skips) => skips,
                Err(error) => {
                    let message = format!("step {} ({}) failed: {error}", index + 1, step.name);
                    let failed = vec![
                        step_entry(index, StepStatus::Failed, state.attempts, error.clone()),
                        Entry::Event(EventKind::StepFailed {
                            step_index: index,
                            error,
                        }),
                    ];
                    return self
                        .end(job, index + 1, JobStatus::Failed, message, failed)
                        .await;
                }
            };
            if let Some(Some(reason)) = skips.first()
                && skips.iter().all(Option::is_some)
            {
                let mut skipped = vec![
                    step_entry(
                        index,
                        StepStatus::Skipped,
                        state.attempts,
                        format!("skipped: {reason}"),
                    ),
                    Entry::Event(EventKind::StepSkipped {
                        step_index: index,
                        reason: reason.clone(),
                    }),
                ];
                if index == last {
                    last_success.append(&mut skipped);
                } else {
                    self.record(skipped).await?;
                }
                continue;
            }
            let success = (index == last).then_some(&mut last_success);
            let mut pending = Vec::new();
            match self
                .run_step(
                    job,
                    (index, step),
                    attempts,
                    (&prepared, &skips),
                    &mut pending,
                    success,
                )
                .await?
            {
                StepEnd::Succeeded => {}
                StepEnd::Failed(error) => {
                    let message = format!("step {} ({}) failed: {error}", index + 1, step.name);
                    return self
                        .end(job, index + 1, JobStatus::Failed, message, pending)
                        .await;
                }
                StepEnd::Interrupted(Interruption::Cancelled) => {
                    return self
                        .end(
                            job,
                            index + 1,
                            JobStatus::Cancelled,
                            "cancelled".to_owned(),
                            pending,
                        )
                        .await;
                }
                StepEnd::Interrupted(Interruption::LostLease) => {
                    return Err(Interruption::LostLease);
                }
            }
        }
        last_success.extend([
            Entry::Event(EventKind::JobEnded {
                status: JobStatus::Succeeded,
                message: String::new(),
            }),
            Entry::Finish {
                status: JobStatus::Succeeded,
                message: String::new(),
            },
        ]);
        self.record(last_success).await
    }

    /// Ends the job with `status` after `leading` entries, skipping the steps from
    /// `first_unrun` on that never ran.
    async fn end(
        &self,
        job: &Job,
        first_unrun: usize,
        status: JobStatus,
        message: String,
        leading: Vec<Entry>,
    ) -> Result<Option<Ended>, Interruption> {
        let mut entries = leading;
        for step in job.steps.iter().skip(first_unrun) {
            if matches!(step.status, StepStatus::Pending | StepStatus::Running) {
                entries.push(Entry::Step {
                    index: step.index,
                    status: StepStatus::Skipped,
                    attempts: step.attempts,
                    started_at: None,
                    ended_at: None,
                    message: String::new(),
                });
                entries.push(Entry::Event(EventKind::StepSkipped {
                    step_index: step.index,
                    reason: String::new(),
                }));
            }
        }
        entries.push(Entry::Event(EventKind::JobEnded {
            status,
            message: message.clone(),
        }));
        entries.push(Entry::Finish { status, message });
        self.record(entries).await
    }

    /// Evaluates the `if` of `step` on every cluster, off the async threads like its arguments.
    async fn skip_reasons(
        &self,
        job: &Job,
        (index, step): (usize, &StepSpec),
        prepared: &Prepared,
    ) -> Result<SkipReasons, String> {
        if step.condition.is_none() {
            return Ok(vec![None; prepared.clusters.len()]);
        }
        let (templates, step, snapshot, action) = (
            self.engine.templates.clone(),
            step.clone(),
            prepared.snapshot.clone(),
            job.action.clone(),
        );
        render_off_thread(move || {
            snapshot
                .clusters
                .iter()
                .map(|facts| skip_reason(&templates, (index, &step), &snapshot, facts, &action))
                .collect::<Result<SkipReasons, _>>()
        })
        .await
        .unwrap_or(Err(RenderError::TimedOut(RENDER_TIME_LIMIT)))
        .map_err(|err| err.to_string())
    }

    /// Runs one step with its retries. Entries that can wait (the attempt's last log lines)
    /// gather in `pending` and are written with the next record; what is left there when the
    /// step ends belongs to whatever the caller writes next. With `success`, a success is not
    /// written but left there too, for the caller to write with what follows.
    async fn run_step(
        &self,
        job: &Job,
        (index, step): (usize, &StepSpec),
        attempts: Attempts,
        (prepared, skips): (&Prepared, &[Option<String>]),
        pending: &mut Vec<Entry>,
        success: Option<&mut Vec<Entry>>,
    ) -> Result<StepEnd, Interruption> {
        let previous_attempts = attempts.before;
        let mut attempt = previous_attempts;
        let last_attempt = previous_attempts + step.retries + 1;
        let mut start_recorded = attempts.first_recorded;
        loop {
            attempt += 1;
            if !std::mem::take(&mut start_recorded) {
                let mut entries = std::mem::take(pending);
                entries.extend([
                    Entry::Step {
                        index,
                        status: StepStatus::Running,
                        attempts: attempt,
                        started_at: Some(Utc::now()),
                        ended_at: None,
                        message: String::new(),
                    },
                    Entry::Event(EventKind::StepStarted {
                        step_index: index,
                        attempt,
                    }),
                ]);
                self.record(entries).await?;
            }

            let started = std::time::Instant::now();
            let outcome = self
                .attempt(job, (index, step), attempt, (prepared, skips), pending)
                .await;
            super::metrics::step_attempted(&step.uses, step_outcome(&outcome), started.elapsed());
            let outcome = outcome?;
            let error = match outcome {
                StepEnd::Succeeded => {
                    pending.extend([
                        step_entry(index, StepStatus::Succeeded, attempt, String::new()),
                        Entry::Event(EventKind::StepSucceeded { step_index: index }),
                    ]);
                    match success {
                        Some(deferred) => deferred.append(pending),
                        None => {
                            self.record(std::mem::take(pending)).await?;
                        }
                    }
                    return Ok(StepEnd::Succeeded);
                }
                StepEnd::Interrupted(Interruption::Cancelled) => {
                    pending.push(step_entry(
                        index,
                        StepStatus::Failed,
                        attempt,
                        "cancelled".to_owned(),
                    ));
                    return Ok(outcome);
                }
                StepEnd::Interrupted(Interruption::LostLease) => return Ok(outcome),
                StepEnd::Failed(error) => error,
            };
            if attempt >= last_attempt {
                pending.extend([
                    step_entry(index, StepStatus::Failed, attempt, error.clone()),
                    Entry::Event(EventKind::StepFailed {
                        step_index: index,
                        error: error.clone(),
                    }),
                ]);
                return Ok(StepEnd::Failed(error));
            }
            let backoff = backoff(attempt - previous_attempts);
            let mut entries = std::mem::take(pending);
            entries.push(Entry::Event(EventKind::StepRetrying {
                step_index: index,
                attempt,
                error,
                backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            }));
            self.record(entries).await?;
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => {
                    return Ok(StepEnd::Interrupted(self.interrupted().unwrap_or(Interruption::LostLease)));
                }
            }
        }
    }

    /// One attempt of a step on every cluster its `if` lets it run on, bounded by the step's
    /// timeout. Log lines are written in batches as they come; the lines of the attempt's end
    /// are left in `pending`.
    async fn attempt(
        &self,
        job: &Job,
        (index, step): (usize, &StepSpec),
        attempt: u32,
        (prepared, skips): (&Prepared, &[Option<String>]),
        pending: &mut Vec<Entry>,
    ) -> Result<StepEnd, Interruption> {
        let Prepared {
            snapshot,
            clusters,
            rule,
            allowed_hosts,
        } = prepared;
        let Some(kind) = StepKind::parse(&step.uses) else {
            return Ok(StepEnd::Failed(format!(
                "unknown step kind {:?}",
                step.uses
            )));
        };
        let timeout = step.effective_timeout();
        for (((cluster_name, cluster), facts), skip) in
            clusters.iter().zip(&snapshot.clusters).zip(skips)
        {
            let marker = line_marker(cluster_name, clusters.len() > 1, facts);
            let entry = |line: String| Entry::Log {
                step_index: index,
                attempt,
                line: format!("{marker}{line}"),
            };
            // What a simulated cluster causes says so, in the step's error as in its log.
            let failed = |error: String| {
                StepEnd::Failed(if facts.connection.is_simulated() {
                    format!("{marker}{error}")
                } else {
                    error
                })
            };
            if let Some(reason) = skip {
                pending.push(entry(format!("skipped on this cluster: {reason}")));
                continue;
            }
            let arguments = {
                let (templates, step, snapshot, facts, action) = (
                    self.engine.templates.clone(),
                    step.clone(),
                    snapshot.clone(),
                    facts.clone(),
                    job.action.clone(),
                );
                render_off_thread(move || {
                    render_step(&templates, (index, &step), &snapshot, &facts, &action)
                })
                .await
                .unwrap_or(Err(RenderError::TimedOut(RENDER_TIME_LIMIT)))
            };
            let arguments = match arguments {
                Ok(arguments) => arguments,
                Err(err) => return Ok(failed(err.to_string())),
            };
            let (log, mut lines) = mpsc::unbounded_channel();
            // The step owns the log sender, so the channel closes when the step ends.
            let work = tokio::time::timeout(timeout, async {
                let log = log;
                let confined = Confined::new(cluster.as_ref(), rule);
                // Outermost, so that no operation, not even a confinement check, starts after
                // the deadline.
                let fenced = Fenced::new(&confined, &self.deadline);
                // Only an http.check reads the allowances, so only it fails on a bad one.
                let hosts = match kind {
                    StepKind::HttpCheck => allowed_hosts.as_deref()?,
                    _ => &[],
                };
                run_step(kind, &arguments, &fenced, hosts, &log).await
            });
            tokio::pin!(work);
            let result = loop {
                tokio::select! {
                    // A step that has ended leaves its last lines for the record of its end.
                    biased;
                    result = &mut work => break Some(result),
                    () = self.stop.cancelled() => break None,
                    Some(line) = lines.recv() => {
                        let mut batch = std::mem::take(pending);
                        batch.push(entry(line));
                        while let Ok(line) = lines.try_recv() {
                            batch.push(entry(line));
                        }
                        self.record(batch).await?;
                    }
                }
            };
            // Lines written just before the step ended still belong to it.
            while let Ok(line) = lines.try_recv() {
                pending.push(entry(line));
            }
            match result {
                None => {
                    return Ok(StepEnd::Interrupted(
                        self.interrupted().unwrap_or(Interruption::LostLease),
                    ));
                }
                // Whatever the step says (the fence refused its operations), a worker past its
                // deadline neither fails nor retries it: the worker that takes over runs it.
                Some(_) if self.deadline.passed() => {
                    return Ok(StepEnd::Interrupted(Interruption::LostLease));
                }
                Some(Err(_elapsed)) => {
                    return Ok(failed(format!(
                        "timed out after {}",
                        humantime::format_duration(timeout)
                    )));
                }
                Some(Ok(Err(error))) => return Ok(failed(error)),
                Some(Ok(Ok(()))) => {}
            }
        }
        Ok(StepEnd::Succeeded)
    }
}

/// How a step attempt ended, as the step duration metric labels it.
fn step_outcome(outcome: &Result<StepEnd, Interruption>) -> &'static str {
    match outcome {
        Ok(StepEnd::Succeeded) => "succeeded",
        Ok(StepEnd::Failed(_)) => "failed",
        Ok(StepEnd::Interrupted(_)) | Err(_) => "interrupted",
    }
}

/// A step's attempts before this run, and whether the claim recorded the start of the next.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    before: u32,
    first_recorded: bool,
}

fn step_entry(index: usize, status: StepStatus, attempts: u32, message: String) -> Entry {
    Entry::Step {
        index,
        status,
        attempts,
        started_at: None,
        ended_at: Some(Utc::now()),
        message,
    }
}

/// What starts each log line of a step on a cluster: the cluster's name on a deployment with
/// several, and `simulated` on a simulated cluster, so that no one takes its lines for a real
/// cluster's.
fn line_marker(cluster_name: &str, several: bool, facts: &ClusterFacts) -> String {
    match (several, facts.connection.is_simulated()) {
        (true, true) => format!("[{cluster_name}, simulated] "),
        (true, false) => format!("[{cluster_name}] "),
        (false, true) => "[simulated] ".to_owned(),
        (false, false) => String::new(),
    }
}

/// Exponential backoff between attempts: 1 s, 2 s, 4 s, ... capped at 30 s.
fn backoff(failed_attempts: u32) -> Duration {
    let exponent = failed_attempts.saturating_sub(1).min(5);
    Duration::from_secs(1 << exponent).min(Duration::from_secs(30))
}

/// Drivers for every cluster of the deployment, or why one cannot be had.
fn connect(
    provider: &dyn ConnectCluster,
    snapshot: &Snapshot,
) -> Result<ConnectedClusters, String> {
    if snapshot.clusters.is_empty() {
        return Err("the deployment has no cluster to run on".to_owned());
    }
    snapshot
        .clusters
        .iter()
        .map(|facts| {
            provider
                .connect(facts, &snapshot.project)
                .map(|cluster| (facts.name.clone(), cluster))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let waits: Vec<u64> = (1..=8).map(|attempt| backoff(attempt).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
