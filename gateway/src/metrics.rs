//! The gateway's metrics: open watch streams by kind (clients, and the shared upstream streams
//! they ride on), and token authentications refused by reason. Labels are bounded sets; no
//! token, project or resource name is ever one.

use std::sync::LazyLock;

use eyrie_platform::metrics::meter;
use opentelemetry::{
    KeyValue,
    metrics::{Counter, UpDownCounter},
};

struct Instruments {
    watchers: UpDownCounter<i64>,
    upstreams: UpDownCounter<i64>,
    refused: Counter<u64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = meter();
    Instruments {
        watchers: meter
            .i64_up_down_counter("eyrie.gateway.watchers")
            .with_unit("{stream}")
            .with_description("Watch streams clients hold open on this gateway, by kind")
            .build(),
        upstreams: meter
            .i64_up_down_counter("eyrie.gateway.watch_feeds")
            .with_unit("{stream}")
            .with_description(
                "Upstream watch streams this gateway holds open to the services (one per \
                 watched key, shared by its watchers), by kind",
            )
            .build(),
        refused: meter
            .u64_counter("eyrie.gateway.auth.refused")
            .with_unit("{call}")
            .with_description(
                "Calls refused by token authentication, by reason (missing, unknown, \
                 rate_limited)",
            )
            .build(),
    }
});

/// A client's watch stream of `kind` (`job`, `deployments`, `operation`) opened (+1) or
/// closed (-1).
pub(crate) fn watchers(kind: &'static str, change: i64) {
    INSTRUMENTS
        .watchers
        .add(change, &[KeyValue::new("kind", kind)]);
}

/// An upstream stream of `kind` opened (+1) or closed (-1).
pub(crate) fn watch_feeds(kind: &'static str, change: i64) {
    INSTRUMENTS
        .upstreams
        .add(change, &[KeyValue::new("kind", kind)]);
}

/// A call refused by authentication: `missing` token, `unknown` (or revoked) token, or
/// `rate_limited`.
pub(crate) fn auth_refused(reason: &'static str) {
    INSTRUMENTS
        .refused
        .add(1, &[KeyValue::new("reason", reason)]);
}
