//! Delivering job outcomes to deployment-svc, with retries until acknowledged.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use eyrie_platform::grpc::TracedChannel;
use eyrie_proto::internal::v1::{
    JobOutcome, ReportJobOutcomeRequest, deployment_callbacks_client::DeploymentCallbacksClient,
};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::domain::job::Outcome;

/// Client of deployment-svc's internal callbacks.
pub type DeploymentClient = DeploymentCallbacksClient<TracedChannel>;

/// Longest wait between two delivery attempts of one outcome.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Outcomes read per round.
const BATCH: u64 = 50;
/// Outcomes delivered at the same time.
const CONCURRENT_DELIVERIES: usize = 8;
/// Longest one delivery may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn run(
    engine: Arc<Engine>,
    client: DeploymentClient,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let ended = engine.ended.notified();
        match engine.store.due_reports(Utc::now(), BATCH).await {
            Ok(jobs) => {
                // Delivered side by side; the acknowledgements are recorded in one statement.
                let delivered: Vec<String> = futures::stream::iter(jobs)
                    .map(|job| {
                        let (engine, client) = (engine.clone(), client.clone());
                        async move { deliver(&engine, client, &job).await }
                    })
                    .buffer_unordered(CONCURRENT_DELIVERIES)
                    .filter_map(|acknowledged| async move { acknowledged })
                    .collect()
                    .await;
                if let Err(err) = engine.store.reports_acknowledged(&delivered).await {
                    // Delivered again later: deployment-svc takes a repeated outcome as a no-op.
                    tracing::warn!(error = %err, jobs = delivered.len(), "outcomes delivered but not marked");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot read pending job outcomes"),
        }
        tokio::select! {
            () = ended => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => {}
        }
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
