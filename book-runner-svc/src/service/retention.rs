//! The retention task: every `runner.retention.interval`, one pass deletes the finished jobs
//! that the retention rules give up (see [`crate::store::jobs::SeaJobStore::prune`]).
//!
//! Every replica runs it. Passes that overlap are harmless: a pass deletes only jobs that stay
//! deletable once they are, and on PostgreSQL a replica that finds another deleting (advisory
//! lock) leaves the rest to it.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{
    config::RetentionSettings,
    store::jobs::{Retention, SeaJobStore},
};

/// The longest wait before the first pass after a start.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

impl From<&RetentionSettings> for Retention {
    fn from(settings: &RetentionSettings) -> Self {
        Self {
            max_age: Some(settings.keep_finished_for).filter(|age| !age.is_zero()),
            keep_per_deployment: Some(settings.keep_finished_per_deployment)
                .filter(|keep| *keep > 0),
            batch_size: u64::from(settings.batch_size),
        }
    }
}

/// Runs a retention pass every `settings.interval` until `shutdown`; returns at once when
/// retention is disabled (no interval, or no rule). A pass in flight at shutdown is dropped:
/// its current batch's transaction rolls back, and the next start goes on from there.
pub async fn run(store: SeaJobStore, settings: RetentionSettings, shutdown: CancellationToken) {
    let rules = Retention::from(&settings);
    if settings.interval.is_zero() || rules.is_disabled() {
        tracing::info!("job retention is disabled: finished jobs are kept");
        return;
    }
    let mut wait = settings.interval.min(FIRST_PASS_AFTER);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = settings.interval;
        let pass = tokio::select! {
            pass = store.prune(&rules, Utc::now()) => pass,
            () = shutdown.cancelled() => return,
        };
        match pass {
            Ok(pruned) if pruned.jobs() > 0 => tracing::info!(
                by_age = pruned.by_age,
                by_count = pruned.by_count,
                contended = pruned.contended,
                "finished jobs deleted (retention)"
            ),
            Ok(pruned) => {
                tracing::debug!(contended = pruned.contended, "retention: nothing to delete")
            }
            Err(err) => {
                tracing::warn!(error = %err, "retention pass failed; the next one tries again")
            }
        }
    }
}
