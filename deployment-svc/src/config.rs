//! deployment-svc settings.

use eyrie_platform::{DatabaseSettings, ServerSettings, TelemetrySettings};
use serde::Deserialize;

/// Everything deployment-svc reads from its configuration file and `EYRIE_*` variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where it listens.
    pub server: ServerSettings,
    /// Its own database (projects, groups, deployments, operations, outbox).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The credential shared with the other services.
    pub internal: eyrie_platform::internal::InternalSettings,
    /// The services it calls.
    pub peers: Peers,
    /// How lifecycle actions are followed.
    pub lifecycle: LifecycleSettings,
}

/// How lifecycle actions are followed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleSettings {
    /// How often running operations are checked against book-runner-svc, so that a lost outcome
    /// report (or a job not started after a crash) never leaves a deployment stuck.
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: std::time::Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            reconcile_interval: std::time::Duration::from_secs(10),
        }
    }
}

/// Services deployment-svc calls; each a comma-separated list of addresses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Peers {
    /// book-runner-svc: books of groups, and the jobs of lifecycle actions. Unset: group books
    /// are not checked and lifecycle actions are refused (FAILED_PRECONDITION).
    pub book_runner: Option<String>,
    /// version-svc: the outbox relay delivers version records there. Unset: records wait in
    /// the outbox.
    pub version: Option<String>,
}
