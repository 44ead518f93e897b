//! Delivering job outcomes to deployment-svc, with retries until acknowledged.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use eyrie_platform::grpc::TracedChannel;
use eyrie_proto::internal::v1::{
    JobOutcome, ReportJobOutcomeRequest, deployment_callbacks_client::DeploymentCallbacksClient,
};
use futures::StreamExt as _;
use tokio::{sync::mpsc, time::MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::domain::job::Outcome;

/// Client of deployment-svc's internal callbacks.
pub type DeploymentClient = DeploymentCallbacksClient<TracedChannel>;

/// Longest wait between two delivery attempts of one outcome.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Outcomes delivered per round.
const BATCH: usize = 50;
/// Outcomes handed over by this process's workers that may wait for the reporter.
pub(super) const HANDED_OVER: usize = 4 * BATCH;
/// How often the table is read for the outcomes owed that no worker here handed over: those of
/// jobs ended elsewhere (a cancelled queued job, another replica that stopped before
/// reporting), failed deliveries come due again, and handovers that did not fit.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Outcomes delivered at the same time.
const CONCURRENT_DELIVERIES: usize = 8;
/// Longest one delivery may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn run(
    engine: Arc<Engine>,
    client: DeploymentClient,
    mut ended: mpsc::Receiver<Outcome>,
    shutdown: CancellationToken,
) {
    let mut look = tokio::time::interval(LOOK_EVERY);
    look.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let outcomes = tokio::select! {
            // Handed-over outcomes first: a look would read them from the table again, and
            // deliver them twice.
            biased;
            () = shutdown.cancelled() => return,
            Some(first) = ended.recv() => {
                let mut outcomes = vec![first];
                while outcomes.len() < BATCH
                    && let Ok(next) = ended.try_recv()
                {
                    outcomes.push(next);
                }
                outcomes
            }
            _ = look.tick() => match engine.store.due_reports(Utc::now(), BATCH as u64).await {
                Ok(outcomes) => {
                    if outcomes.len() == BATCH {
                        // More may be owed (deployment-svc was away a while): look again next.
                        look.reset_immediately();
                    }
                    outcomes
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read pending job outcomes");
                    continue;
                }
            },
        };
        deliver_all(&engine, &client, outcomes).await;
    }
}

/// Delivers `outcomes` side by side, then records the acknowledgements in one statement.
async fn deliver_all(engine: &Arc<Engine>, client: &DeploymentClient, outcomes: Vec<Outcome>) {
    let delivered: Vec<String> = futures::stream::iter(outcomes)
        .map(|job| {
            let (engine, client) = (engine.clone(), client.clone());
            async move { deliver(&engine, client, &job).await }
        })
        .buffer_unordered(CONCURRENT_DELIVERIES)
        .filter_map(|acknowledged| async move { acknowledged })
        .collect()
        .await;
    if delivered.is_empty() {
        return;
    }
    if let Err(err) = engine.store.reports_acknowledged(&delivered).await {
        // Delivered again later: deployment-svc takes a repeated outcome as a no-op.
        tracing::warn!(error = %err, jobs = delivered.len(), "outcomes delivered but not marked");
    }
}

/// Delivers `job`'s outcome; returns its id once deployment-svc acknowledged it.
async fn deliver(engine: &Engine, mut client: DeploymentClient, job: &Outcome) -> Option<String> {
    let mut request = tonic::Request::new(ReportJobOutcomeRequest {
        outcome: Some(outcome(job)),
    });
    request.set_timeout(CALL_TIMEOUT);
    match client.report_job_outcome(request).await {
        Ok(_) => Some(job.id.clone()),
        Err(status) => {
            let attempts = engine.store.report_attempts(&job.id).await.unwrap_or(0);
            let backoff = Duration::from_secs(1 << attempts.clamp(0, 6)).min(MAX_BACKOFF);
            tracing::warn!(job = %job.name, code = ?status.code(), message = status.message(), ?backoff, "outcome not delivered; will retry");
            let retry_at = Utc::now() + chrono::Duration::from_std(backoff).unwrap_or_default();
            if let Err(err) = engine.store.report_failed(&job.id, retry_at).await {
                tracing::warn!(job = %job.name, error = %err, "cannot schedule the outcome retry");
            }
            None
        }
    }
}

/// The outcome message of an ended job.
pub fn outcome(job: &Outcome) -> JobOutcome {
    crate::grpc::convert::job::outcome(job)
}
