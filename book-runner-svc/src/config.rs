//! book-runner-svc settings.

use std::{path::PathBuf, time::Duration};

use eyrie_platform::{DatabaseSettings, ServerSettings, TelemetrySettings};
use serde::Deserialize;

use crate::cluster::kubernetes::CredentialPolicy;
use crate::domain::hosts::AllowedHost;

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
    /// The credential shared with the other services.
    pub internal: eyrie_platform::internal::InternalSettings,
    /// How jobs run.
    pub runner: RunnerSettings,
    /// The services it calls.
    pub peers: Peers,
}

/// How jobs run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerSettings {
    /// Jobs this process runs at once.
    pub workers: usize,
    /// How long a claimed job stays with its worker without a renewal; a worker that dies
    /// loses its jobs to another after this long. A worker that cannot renew stops touching
    /// clusters sooner, three quarters of it after it last asked.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How often a process looks for work no signal announced (a lease that expired, a signal
    /// that was lost), and followers for events written by other replicas. On PostgreSQL the
    /// database signals new jobs and events to every replica as they commit, so this is only
    /// the safety net; on SQLite (one process) it is how takeovers are found.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often a running job checks whether another replica was asked to cancel it.
    #[serde(with = "humantime_serde")]
    pub cancel_check_interval: Duration,
    /// When the process stops (SIGTERM), how long its running jobs may go on to their end
    /// before they are interrupted and handed back to another replica. Keep it under the
    /// pod's `terminationGracePeriodSeconds`.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Heartbeat period of idle WatchJob streams, so proxies do not cut them.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// The one folder `directory` clusters live in: a cluster's path is relative to it (or
    /// absolute inside it); a path that leads outside it (elsewhere, `..`, a symbolic link) is
    /// refused when a job connects. Created if missing.
    pub directory_root: PathBuf,
    /// How often the controllers of a simulated `directory` cluster take a step (each moves
    /// every object one small step: a pod scheduled, started, ready).
    #[serde(with = "humantime_serde")]
    pub simulated_pass_interval: Duration,
    /// Which credentials a `kubernetes` cluster's connection may use beyond a kubeconfig's
    /// inline ones (exec plugins, token files, the runner's own service account): none unless
    /// allowed here.
    pub kubernetes: CredentialPolicy,
    /// Networks (`127.0.0.0/8`), addresses (`::1`) and host names that `http.check` may reach
    /// although they are loopback, link-local, unspecified or the runner's own: none by default.
    pub http_check_allow: Vec<AllowedHost>,
    /// Which finished jobs are deleted, with their steps, events and logs, and how often.
    pub retention: RetentionSettings,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            lease_ttl: Duration::from_secs(15),
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(20),
            cancel_check_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(15),
            directory_root: PathBuf::from("."),
            simulated_pass_interval: crate::cluster::simulated::DEFAULT_PASS_INTERVAL,
            kubernetes: CredentialPolicy::default(),
            http_check_allow: Vec::new(),
            retention: RetentionSettings::default(),
        }
    }
}

/// Retention of finished jobs (`[runner.retention]`): a background task of every replica deletes
/// finished jobs, with their steps, events and logs, that either rule gives up. Whatever the
/// rules, it never deletes a queued or running job, a job whose outcome deployment-svc has not
/// acknowledged yet, or the newest finished job of a deployment (the one its latest operation may
/// still retry, and the reconciler may still ask about): see `store/jobs/prune.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Finished jobs that ended longer ago than this are deleted (default 30 days); `0s`: kept
    /// whatever their age.
    #[serde(with = "humantime_serde")]
    pub keep_finished_for: Duration,
    /// Finished jobs kept per deployment, the newest (default 100); older ones are deleted.
    /// `0`: no limit.
    pub keep_finished_per_deployment: u32,
    /// How often a pass runs (default 10 minutes; the first one a minute after the start);
    /// `0s`: never, nothing is deleted.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Jobs deleted per transaction (default 100): a pass deletes in batches of this many, so
    /// it never holds locks for long nor makes one huge transaction.
    pub batch_size: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            keep_finished_for: Duration::from_secs(30 * 24 * 60 * 60),
            keep_finished_per_deployment: 100,
            interval: Duration::from_secs(10 * 60),
            batch_size: 100,
        }
    }
}

/// Services book-runner-svc calls.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Peers {
    /// deployment-svc addresses (comma-separated), for job outcomes and deployment snapshots.
    /// Unset: outcomes wait in the database until a runner that has it reports them.
    pub deployment: Option<String>,
}
