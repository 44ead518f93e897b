//! book-runner-svc settings.

use eyrie_platform::{DatabaseSettings, ServerSettings, TelemetrySettings};
use serde::Deserialize;

/// Everything book-runner-svc reads from its configuration file and `EYRIE_*` variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where it listens.
    pub server: ServerSettings,
    /// Its own database (books, jobs, steps, events).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
}
