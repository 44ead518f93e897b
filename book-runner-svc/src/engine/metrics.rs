//! The job engine's metrics: jobs queued and running (sampled from the database, so the same in
//! every replica), jobs finished by outcome, the delay from queued to claimed, and each step
//! attempt's duration by step kind. Labels are bounded: outcomes and the step kinds of
//! [`StepKind`] (any other `uses` is `other`), never a job, deployment or project name.

use std::{sync::LazyLock, time::Duration};

use eyrie_platform::metrics::{SECONDS_BUCKETS, meter};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram},
};
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{job::JobStatus, step_kind::StepKind},
    store::jobs::{Claim, SeaJobStore},
};

/// How often the queued and running jobs are counted in the database.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);

struct Instruments {
    queued: Gauge<u64>,
    running: Gauge<u64>,
    finished: Counter<u64>,
    pickup_delay: Histogram<f64>,
    step_duration: Histogram<f64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = meter();
    Instruments {
        queued: meter
            .u64_gauge("eyrie.jobs.queued")
            .with_unit("{job}")
            .with_description("Jobs waiting for a worker, in every replica (sampled every 15 s)")
            .build(),
        running: meter
            .u64_gauge("eyrie.jobs.running")
            .with_unit("{job}")
            .with_description("Jobs being run, in every replica (sampled every 15 s)")
            .build(),
        finished: meter
            .u64_counter("eyrie.jobs.finished")
            .with_unit("{job}")
            .with_description("Jobs ended, by outcome (succeeded, failed, cancelled)")
            .build(),
        pickup_delay: meter
            .f64_histogram("eyrie.jobs.pickup_delay")
            .with_unit("s")
            .with_description("From a job queued to its first claim by a worker")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
        step_duration: meter
            .f64_histogram("eyrie.job.step.duration")
            .with_unit("s")
            .with_description("Duration of each step attempt, by step kind and outcome")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
    }
});

/// A worker claimed `claim`: its pickup delay, for a job no worker had before.
pub(super) fn job_claimed(claim: &Claim) {
    if claim.takeover {
        return;
    }
    let waited = eyrie_platform::metrics::seconds_since(claim.job.created_at);
    INSTRUMENTS.pickup_delay.record(waited, &[]);
}

/// A job ended with `status`, as recorded in the database.
pub(crate) fn job_finished(status: JobStatus) {
    INSTRUMENTS
        .finished
        .add(1, &[KeyValue::new("outcome", status.as_str())]);
}

/// A step attempt of kind `uses` ended after `elapsed`: `succeeded`, `failed`, or
/// `interrupted` (cancelled, or its worker lost the lease).
pub(super) fn step_attempted(uses: &str, outcome: &'static str, elapsed: Duration) {
    let kind = StepKind::parse(uses).map_or("other", StepKind::as_str);
    INSTRUMENTS.step_duration.record(
        elapsed.as_secs_f64(),
        &[
            KeyValue::new("step.kind", kind),
            KeyValue::new("outcome", outcome),
        ],
    );
}

/// Counts the queued and running jobs every [`SAMPLE_INTERVAL`] until `shutdown`.
pub(super) async fn sample_jobs(store: SeaJobStore, shutdown: CancellationToken) {
    let instruments = LazyLock::force(&INSTRUMENTS);
    loop {
        let counted = tokio::select! {
            counted = store.active_counts() => counted,
            // A slow database never holds up the shutdown.
            () = shutdown.cancelled() => return,
        };
        match counted {
            Ok((queued, running)) => {
                instruments.queued.record(queued, &[]);
                instruments.running.record(running, &[]);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot count the active jobs for the metrics")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(SAMPLE_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
