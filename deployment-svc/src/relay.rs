//! The version outbox relay: delivers the version records queued with each deployment change
//! to version-svc, retrying with backoff until acknowledged, in revision order per deployment
//! (docs/architecture.md, "Version outbox").
//!
//! Order: only a deployment's lowest queued revision is ever claimed, and its row is deleted
//! only after version-svc acknowledged it, so a later revision cannot be sent first. This
//! matters: version-svc records nothing for a revision older than its latest one.
//!
//! Several replicas: order holds without any lock, by the rule above. On top of it, each claim
//! leases its rows for [`LEASE`] in one UPDATE (`FOR UPDATE SKIP LOCKED` on PostgreSQL, see
//! [`outbox::claim_due_versions`]) rather than holding row locks during the call: so two relays
//! do not send the same record at once, and no transaction stays open across a network call.
//! Should a lease expire mid-call, the record is merely sent twice, and version-svc answers a
//! repeated revision with the version it already created.

mod metrics;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use eyrie_platform::{changes::Changes, grpc::TracedChannel};
use eyrie_proto::internal::v1::version_recorder_client::VersionRecorderClient;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::store::outbox::{self, PendingVersion};

/// Client of version-svc's internal recorder.
pub type VersionClient = VersionRecorderClient<TracedChannel>;

/// Wait between two looks at the outbox while it has nothing due.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Most records (one per deployment) claimed and sent at once.
const BATCH: u64 = 32;
/// Longest one delivery may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed record is hidden from other relays: longer than a call and its write.
const LEASE: Duration = Duration::from_secs(15);
/// Wait after the first failed delivery of a record; it doubles with each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between two attempts of one record.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the outbox's backlog is read for the metrics.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Delivers the version outbox to version-svc until shut down.
pub struct VersionRelay {
    db: DatabaseConnection,
    client: VersionClient,
    /// Told when a deployment's current version rises.
    changes: Arc<Changes>,
}

impl VersionRelay {
    /// A relay reading the outbox of `db` and calling version-svc through `client`, telling
    /// `changes` of each deployment whose version it raised.
    pub fn new(db: DatabaseConnection, client: VersionClient, changes: Arc<Changes>) -> Self {
        Self {
            db,
            client,
            changes,
        }
    }

    /// Delivers due records until `shutdown` is cancelled. A delivery cut short by shutdown is
    /// safe: its record stays queued and is sent again after its lease.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut sampled: Option<tokio::time::Instant> = None;
        while !shutdown.is_cancelled() {
            if sampled.is_none_or(|at| at.elapsed() >= SAMPLE_INTERVAL) {
                tokio::select! {
                    () = metrics::sample_backlog(&self.db) => {}
                    () = shutdown.cancelled() => break,
                }
                sampled = Some(tokio::time::Instant::now());
            }
            let busy = tokio::select! {
                busy = self.deliver_due() => busy,
                () = shutdown.cancelled() => break,
            };
            // A delivered record may have made its deployment's next revision due at once.
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// Claims one batch and sends it, each deployment's record concurrently so that a slow
    /// one delays no other. True when worth looking again at once: something was delivered
    /// or the batch was full.
    async fn deliver_due(&self) -> bool {
        let claimed = match self.claim().await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the version outbox");
                return false;
            }
        };
        let full = claimed.len() as u64 >= BATCH;
        let mut deliveries = JoinSet::new();
        for record in claimed {
            deliveries.spawn(deliver(
                self.db.clone(),
                self.client.clone(),
                self.changes.clone(),
                record,
            ));
        }
        let mut delivered = false;
        while let Some(done) = deliveries.join_next().await {
            delivered |= done.unwrap_or(false);
        }
        delivered || full
    }

    async fn claim(&self) -> Result<Vec<PendingVersion>, DbErr> {
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        outbox::claim_due_versions(&self.db, now, lease_until, BATCH).await
    }
}

/// Sends `record`; on OK removes it and raises the deployment's current version, otherwise
/// schedules its next attempt. True when delivered.
async fn deliver(
    db: DatabaseConnection,
    mut client: VersionClient,
    changes: Arc<Changes>,
    record: PendingVersion,
) -> bool {
    let (deployment, revision) = (&record.deployment, record.revision);
    let request = match record.request() {
        Ok(request) => request,
        Err(err) => {
            // A bug; the record waits for a fix rather than vanish.
            tracing::error!(%deployment, revision, error = %err, "version record unreadable; will retry");
            retry_later(&db, &record).await;
            return false;
        }
    };
    let mut call = tonic::Request::new(request);
    // The deadline travels to version-svc; the local timeout also covers a hung connection.
    call.set_timeout(CALL_TIMEOUT);
    let answer = tokio::time::timeout(CALL_TIMEOUT, client.record_version(call))
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(
                "version-svc did not answer in time",
            ))
        });
    metrics::sent(answer.is_ok(), record.queued_at);
    let status = match answer {
        Ok(response) => {
            let version = response.into_inner().version.map_or(0, |v| v.number);
            let removed = outbox::mark_version_delivered(&db, record.id, deployment, version).await;
            return match removed {
                Ok(()) => {
                    tracing::debug!(%deployment, revision, version, "version delivered");
                    changes.publish(deployment).await;
                    true
                }
                Err(err) => {
                    // Sent again after the lease; version-svc answers with the same version.
                    tracing::warn!(%deployment, revision, error = %err, "version delivered but still queued");
                    false
                }
            };
        }
        Err(status) => status,
    };
    let attempts = record.attempts.saturating_add(1);
    let (code, message) = (status.code(), status.message());
    if code == Code::InvalidArgument {
        // version-svc refuses what this service wrote: a bug, which retrying cannot fix; but
        // dropping the record would lose a version, so it waits for a fixed version-svc.
        tracing::error!(%deployment, revision, attempts, ?code, message, "version record refused; will retry");
    } else {
        tracing::warn!(%deployment, revision, attempts, ?code, message, "version not delivered; will retry");
    }
    retry_later(&db, &record).await;
    false
}

/// Counts a failed attempt of `record` and makes it due again after the backoff.
async fn retry_later(db: &DatabaseConnection, record: &PendingVersion) {
    let wait = backoff(record.attempts.saturating_add(1));
    let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
    if let Err(err) = outbox::schedule_version_retry(db, record.id, retry_at).await {
        // Its lease still holds it back: it is retried when the lease ends.
        tracing::warn!(deployment = %record.deployment, revision = record.revision, error = %err, "cannot schedule the version retry");
    }
}

/// The wait after the `attempts`-th failed delivery: 200 ms, doubling, at most 30 s.
fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_200_ms_up_to_30_s() {
        let waits: Vec<u128> = (1..=9).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(
            waits,
            [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000]
        );
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }
}
