//! Layered configuration shared by every service.
//!
//! Lowest priority first: the settings' own defaults (`#[serde(default)]`), an optional file
//! (TOML), then environment variables `EYRIE_<SECTION>__<KEY>` (e.g. `EYRIE_SERVER__LISTEN_ADDR`).

use std::{collections::HashMap, net::SocketAddr, path::Path, time::Duration};

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};

use crate::tls::ServerTlsSettings;

/// Prefix of the environment variables that configure Eyrie.
pub const ENV_PREFIX: &str = "EYRIE";

/// Loads settings of type `T` from its defaults, `file` (if given) and the environment.
///
/// `env` replaces the process environment when given, so tests never mutate global state.
pub fn load<T: DeserializeOwned>(
    file: Option<&Path>,
    env: Option<HashMap<String, String>>,
) -> Result<T, config::ConfigError> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    builder
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(env),
        )
        .build()?
        .try_deserialize()
}

/// How a service listens for gRPC calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind; port 0 lets the system pick a free one. Unset: the service's own
    /// default port on all interfaces, as in a container.
    pub listen_addr: Option<SocketAddr>,
    /// Longest a call may run when the client sends no `grpc-timeout` of its own.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Calls served at once by this process; further calls wait for a slot.
    pub concurrency_limit: usize,
    /// Streams one client connection may have open at once.
    pub max_concurrent_streams: u32,
    /// HTTP/2 ping sent on a connection idle this long, so that idle streams (a job watched
    /// while nothing happens) survive proxies and dead peers are noticed.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// A connection whose ping is unanswered this long is closed.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// Once a shutdown begins (SIGTERM), how long calls in flight may go on. Streams still open
    /// then (watches) end with `UNAVAILABLE`, so that their clients resume on another replica
    /// instead of holding this one until it is killed. Keep it well under the pod's
    /// `terminationGracePeriodSeconds`.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// `[server.tls]`: TLS (and mutual TLS) on this port; plaintext when no certificate is set.
    pub tls: ServerTlsSettings,
    /// `[server.metrics]`: `GET /metrics` (Prometheus) on this port, and who may read it.
    pub metrics: crate::metrics::scrape::ScrapeSettings,
}

impl ServerSettings {
    /// The address to bind: the configured one, else `default_port` on all interfaces.
    pub fn listen_addr_or(&self, default_port: u16) -> SocketAddr {
        self.listen_addr
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], default_port)))
    }

    /// `https` when the port serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_enabled() {
            "https"
        } else {
            "http"
        }
    }

    /// Settings that bind a free loopback port, as tests and `eyrie up` want.
    pub fn loopback_any_port() -> Self {
        Self {
            listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..Self::default()
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen_addr: None,
            request_timeout: Duration::from_secs(30),
            concurrency_limit: 1024,
            max_concurrent_streams: 1000,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(5),
            tls: ServerTlsSettings::default(),
            metrics: crate::metrics::scrape::ScrapeSettings::default(),
        }
    }
}

/// Where a service keeps its own tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db?mode=rwc` or `postgres://user@host/db`. Required: a service
    /// never falls back to a throwaway database. May hold a password, so it is kept secret.
    pub url: Option<SecretString>,
    /// PostgreSQL schema holding this service's tables (created if missing); ignored on SQLite.
    pub schema: Option<String>,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// Applies pending migrations when the service starts.
    pub migrate_on_start: bool,
    /// On PostgreSQL, a session left idle inside a transaction this long is ended by the
    /// server, releasing its row locks: a replica frozen in the middle of a transaction (a
    /// stalled node) would otherwise hold them, and keep another from taking its jobs over,
    /// until it wakes. Zero leaves sessions alone.
    #[serde(with = "humantime_serde")]
    pub idle_in_transaction_timeout: std::time::Duration,
    /// A pooled connection idle this long is pinged before a call gets it; one used more
    /// recently is handed out as it is, saving a round trip per statement under load. Zero
    /// pings at every checkout (behind a proxy that drops connections while in use, say).
    #[serde(with = "humantime_serde")]
    pub ping_when_idle_for: std::time::Duration,
}

impl DatabaseSettings {
    /// Settings for a database at `url`, with the other fields at their defaults.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(SecretString::from(url.into())),
            ..Self::default()
        }
    }

    /// Tells whether the URL names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.url.as_ref().is_some_and(|url| {
            let url = url.expose_secret();
            url.starts_with("postgres://") || url.starts_with("postgresql://")
        })
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            schema: None,
            max_connections: 10,
            migrate_on_start: true,
            idle_in_transaction_timeout: std::time::Duration::from_secs(10),
            ping_when_idle_for: std::time::Duration::from_millis(500),
        }
    }
}

/// Logs and traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `pretty` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Filter directives in `RUST_LOG` syntax; `RUST_LOG` itself wins when set.
    pub log_filter: String,
    /// OTLP/gRPC collector address (e.g. `http://otel-collector:4317`); spans and metrics are
    /// exported only when set (metrics are always readable at `GET /metrics`).
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info,h2=warn,tower=warn,sqlx=warn,sea_orm=warn".to_owned(),
            otlp_endpoint: None,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, one line per event.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Sample {
        server: ServerSettings,
        database: DatabaseSettings,
    }

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let settings: Sample = load(None, env(&[])).unwrap();
        assert_eq!(settings.server.listen_addr, None);
        assert_eq!(settings.server.listen_addr_or(7001).port(), 7001);
        assert_eq!(settings.server.request_timeout, Duration::from_secs(30));
        assert!(settings.database.migrate_on_start);
        assert!(
            settings.database.url.is_none(),
            "no silent fallback database"
        );
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(
            file,
            "[server]\nlisten_addr = \"127.0.0.1:7000\"\nrequest_timeout = \"5s\"\n\
             [database]\nurl = \"sqlite://from-file.db\"\nmax_connections = 3"
        )
        .unwrap();

        let settings: Sample = load(
            Some(file.path()),
            env(&[
                ("EYRIE_SERVER__LISTEN_ADDR", "127.0.0.1:9000"),
                ("EYRIE_DATABASE__MAX_CONNECTIONS", "7"),
                ("EYRIE_DATABASE__PING_WHEN_IDLE_FOR", "0s"),
            ]),
        )
        .unwrap();

        assert_eq!(
            settings.server.listen_addr_or(1).port(),
            9000,
            "environment wins over the file"
        );
        assert_eq!(
            settings.server.request_timeout,
            Duration::from_secs(5),
            "file wins over defaults"
        );
        assert_eq!(
            settings.database.url.unwrap().expose_secret(),
            "sqlite://from-file.db"
        );
        assert_eq!(settings.database.max_connections, 7);
        assert_eq!(settings.database.ping_when_idle_for, Duration::ZERO);
        assert_eq!(
            DatabaseSettings::default().ping_when_idle_for,
            Duration::from_millis(500)
        );
        assert_eq!(
            settings.server.concurrency_limit, 1024,
            "untouched keys keep their default"
        );
    }

    #[test]
    fn unknown_key_in_a_section_is_refused() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(file, "[server]\nlisten_adr = \"127.0.0.1:7000\"").unwrap();
        let err = load::<Sample>(Some(file.path()), env(&[])).unwrap_err();
        assert!(err.to_string().contains("listen_adr"), "{err}");
    }

    #[test]
    fn tls_files_are_named_in_the_file_or_the_environment() {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(file, "[server.tls]\ncert_file = \"/etc/eyrie/tls/tls.crt\"").unwrap();
        let settings: Sample = load(
            Some(file.path()),
            env(&[("EYRIE_SERVER__TLS__KEY_FILE", "/etc/eyrie/tls/tls.key")]),
        )
        .unwrap();
        assert_eq!(
            settings.server.tls.key_file.as_deref(),
            Some(Path::new("/etc/eyrie/tls/tls.key"))
        );
        assert_eq!(settings.server.scheme(), "https");

        writeln!(file, "certfile = \"typo.crt\"").unwrap();
        let err = load::<Sample>(Some(file.path()), env(&[])).unwrap_err();
        assert!(err.to_string().contains("certfile"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = load::<Sample>(Some(Path::new("does-not-exist.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("does-not-exist"), "{err}");
    }
}
