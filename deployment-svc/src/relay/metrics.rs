//! The relay's metrics: the version outbox's backlog (records queued, the oldest one's age),
//! the records sent to version-svc by result, and each record's lag from queued to
//! acknowledged. No label names a deployment.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use eyrie_platform::metrics::{SECONDS_BUCKETS, meter};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram},
};
use sea_orm::DatabaseConnection;

use crate::store::outbox;

struct Instruments {
    queued: Gauge<u64>,
    oldest_age: Gauge<f64>,
    sent: Counter<u64>,
    lag: Histogram<f64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = meter();
    Instruments {
        queued: meter
            .u64_gauge("eyrie.outbox.versions.queued")
            .with_unit("{record}")
            .with_description("Version records waiting in the outbox for version-svc")
            .build(),
        oldest_age: meter
            .f64_gauge("eyrie.outbox.oldest_age")
            .with_unit("s")
            .with_description("Age of the oldest version record in the outbox (0 when empty)")
            .build(),
        sent: meter
            .u64_counter("eyrie.relay.versions.sent")
            .with_unit("{record}")
            .with_description("Version records sent to version-svc, by result (delivered, failed)")
            .build(),
        lag: meter
            .f64_histogram("eyrie.relay.delivery_lag")
            .with_unit("s")
            .with_description("From a version record queued to version-svc acknowledging it")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build(),
    }
});

/// Reads the outbox's backlog into the gauges.
pub(super) async fn sample_backlog(db: &DatabaseConnection) {
    match outbox::backlog(db).await {
        Ok((queued, oldest)) => {
            let age = oldest.map_or(0.0, eyrie_platform::metrics::seconds_since);
            INSTRUMENTS.queued.record(queued, &[]);
            INSTRUMENTS.oldest_age.record(age, &[]);
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the outbox's backlog for the metrics")
        }
    }
}

/// A record queued at `queued_at` was sent: `delivered` (acknowledged) or not.
pub(super) fn sent(delivered: bool, queued_at: DateTime<Utc>) {
    let result = if delivered { "delivered" } else { "failed" };
    INSTRUMENTS.sent.add(1, &[KeyValue::new("result", result)]);
    if delivered {
        INSTRUMENTS
            .lag
            .record(eyrie_platform::metrics::seconds_since(queued_at), &[]);
    }
}
