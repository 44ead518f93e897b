//! version-svc settings.

use eyrie_platform::{DatabaseSettings, ServerSettings, TelemetrySettings};
use serde::Deserialize;

/// Everything version-svc reads from its configuration file and `EYRIE_*` variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where it listens.
    pub server: ServerSettings,
    /// Its own database (the `deployment_versions` tables).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The credential shared with the other services.
    pub internal: eyrie_platform::internal::InternalSettings,
}
