//! Gateway settings.

use std::{path::PathBuf, time::Duration};

use eyrie_platform::{DatabaseSettings, ServerSettings, TelemetrySettings};
use serde::Deserialize;

/// Everything the gateway reads from its configuration file and `EYRIE_*` variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where it listens: the one public endpoint.
    pub server: ServerSettings,
    /// Its own database (API tokens).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The credential shared with the other services.
    pub internal: eyrie_platform::internal::InternalSettings,
    /// Where the services behind it are.
    pub backends: Backends,
    /// How callers prove who they are.
    pub auth: AuthSettings,
    /// What one caller may ask of the gateway.
    pub limits: Limits,
    /// Live job streams.
    pub watch: WatchSettings,
    /// Browser access.
    pub grpc_web: GrpcWebSettings,
    /// The web console under `/_eyrie/`.
    pub console: ConsoleSettings,
}

/// The web console: pages under `/_eyrie/` on the API's own port, signed in with a token.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console.
    pub enabled: bool,
    /// A console session unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A console session ends this long after sign-in, used or not.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Sessions kept at most by this replica (signed in or about to be); beyond it the least
    /// recently used ones not signed in go first.
    pub max_sessions: usize,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_idle_timeout: Duration::from_secs(60 * 60),
            session_lifetime: Duration::from_secs(12 * 60 * 60),
            max_sessions: 10_000,
        }
    }
}

/// gRPC-Web, so that a browser page can call the API and watch jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcWebSettings {
    /// Accept gRPC-Web (HTTP/1.1) calls besides gRPC.
    pub enabled: bool,
    /// Origins whose pages may call (CORS), e.g. `https://console.example.com`; `*` for any.
    /// Empty: only pages served from the gateway's own origin.
    pub allowed_origins: Vec<String>,
}

impl Default for GrpcWebSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_origins: Vec::new(),
        }
    }
}

/// Live streams, shared by all the watchers of a job (or of a deployment group).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchSettings {
    /// A watcher that received nothing for this long gets a heartbeat.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Events kept in memory per watched job (changes per watched group). A watcher further
    /// behind catches up from the service's own history.
    pub max_buffered_events: usize,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            max_buffered_events: 10_000,
        }
    }
}

/// Bounds on what callers may ask, so that one cannot starve the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request or response message, in bytes (a larger request: `RESOURCE_EXHAUSTED`).
    pub max_message_size: usize,
    /// Calls per second one token may make on average (`RESOURCE_EXHAUSTED` beyond); 0: no
    /// limit.
    pub requests_per_second: f64,
    /// Calls one token may make at once above its rate.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Books and their rendered manifests are at most 1 MiB of text; leave room.
            max_message_size: 4 * 1024 * 1024,
            requests_per_second: 100.0,
            burst: 200,
        }
    }
}

/// Addresses of the services behind the gateway. Each is a comma-separated list: calls are
/// balanced over the replicas listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backends {
    /// deployment-svc (DeploymentService).
    pub deployment: String,
    /// book-runner-svc (BookService, JobService).
    pub book_runner: String,
    /// version-svc (VersionService).
    pub version: String,
    /// How often the gateway checks its backends' health (its own health reflects them).
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// HTTP/2 connections to each backend address, calls balanced over them. Several spread a
    /// busy gateway's calls over more connection tasks and sockets than one.
    pub connections_per_address: usize,
}

impl Default for Backends {
    fn default() -> Self {
        Self {
            deployment: "http://127.0.0.1:50061".to_owned(),
            book_runner: "http://127.0.0.1:50062".to_owned(),
            version: "http://127.0.0.1:50063".to_owned(),
            health_check_interval: Duration::from_secs(5),
            connections_per_address: 2,
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// File holding the bootstrap global-admin token. Created with a random token (mode 0600)
    /// when missing; its token is accepted from then on. Unset: no bootstrap token.
    pub bootstrap_token_file: Option<PathBuf>,
    /// How long an authenticated token is trusted without reading the database again. A token
    /// revoked on another gateway replica keeps working for at most this long; 0 reads the
    /// database on every call.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            bootstrap_token_file: None,
            cache_ttl: Duration::from_secs(2),
        }
    }
}
