//! The gateway: Eyrie's one public endpoint. It serves the public `eyrie.v1` API, forwarding
//! each service to its backend, and owns API tokens.

pub mod access;
pub mod auth;
mod backend_health;
pub mod bootstrap;
pub mod config;
pub mod console;
mod forward;
mod group_feeds;
mod grpc;
mod heartbeat;
pub mod job_feeds;
mod metrics;
mod operation_feeds;
pub mod rate_limit;
mod shared_feeds;
pub mod store;
mod visible_projects;

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{
        Endpoint, GrpcWeb, Reflection, TracedChannel, parse_addresses as addresses, traced_pool,
    },
};
use eyrie_proto::v1::access_service_server::AccessServiceServer;
use tokio::net::TcpListener;

pub use crate::config::Settings;
use crate::{
    backend_health::Backend,
    forward::{Call, Forward, Handling, PublicService},
    group_feeds::GroupFeeds,
    job_feeds::JobFeeds,
    operation_feeds::OperationFeeds,
    rate_limit::RateLimiter,
    store::{TokenStore, migration::Migrator},
};

/// The gateway as a standalone process (`eyrie serve gateway`).
pub struct Gateway;

impl eyrie_platform::standalone::Service for Gateway {
    const NAME: &'static str = "gateway";
    const DEFAULT_PORT: u16 = 50051;
    type Settings = Settings;

    fn server(settings: &Settings) -> &ServerSettings {
        &settings.server
    }

    fn telemetry(settings: &Settings) -> &TelemetrySettings {
        &settings.telemetry
    }

    fn run(
        settings: Settings,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        run(settings, listener, shutdown)
    }
}

/// `eyrie.v1.DeploymentService`, on deployment-svc; watchers of a group share one stream.
struct DeploymentApi {
    feeds: GroupFeeds,
    operations: OperationFeeds,
}

impl PublicService for DeploymentApi {
    const NAME: &'static str = "eyrie.v1.DeploymentService";

    fn handle(&self, call: Call) -> Handling {
        match call.path.path() {
            visible_projects::LIST_PROJECTS if !call.grants.is_global_admin() => {
                Handling::Answered(visible_projects::answer(call))
            }
            group_feeds::WATCH_DEPLOYMENTS => Handling::Answered(self.feeds.answer(call)),
            operation_feeds::WATCH_OPERATION => Handling::Answered(self.operations.answer(call)),
            _ => Handling::Forward(Box::new(call)),
        }
    }
}

/// `eyrie.v1.BookService`, on book-runner-svc.
struct BookApi;

impl PublicService for BookApi {
    const NAME: &'static str = "eyrie.v1.BookService";
}

/// `eyrie.v1.JobService`, on book-runner-svc; its watchers share one stream per job, and a retry
/// is checked against the job's action first.
struct JobApi {
    feeds: JobFeeds,
    /// deployment-svc, which decides retries.
    deployments: TracedChannel,
}

impl PublicService for JobApi {
    const NAME: &'static str = "eyrie.v1.JobService";

    fn handle(&self, call: Call) -> Handling {
        match call.path.path() {
            job_feeds::WATCH_JOB => Handling::Answered(self.feeds.answer(call)),
            // The role a retry needs depends on the job's action (see `access::retry`); the
            // contract marks such RPCs (`role_of_job_action`).
            _ if call.rule.job_action.is_some() => {
                Handling::Answered(access::retry::answer(call, self.deployments.clone()))
            }
            _ => Handling::Forward(Box::new(call)),
        }
    }
}

/// `eyrie.v1.VersionService`, on version-svc.
struct VersionApi;

impl PublicService for VersionApi {
    const NAME: &'static str = "eyrie.v1.VersionService";
}

/// Serves the public API on `listener` until `shutdown` completes.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Who may call what is declared in the contract: a public RPC without a usable rule stops
    // the gateway here, before it serves anything.
    let rules = Arc::new(access::rules::public().context("the access rules of the contract")?);
    // Calls to the services carry the internal credential; the public endpoint needs none.
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings.database)
        .await
        .context("gateway database")?;
    let tokens = TokenStore::remembering(db, settings.auth.cache_ttl);
    if let Some(path) = &settings.auth.bootstrap_token_file {
        let token = bootstrap::load_or_create_token(path)
            .with_context(|| format!("bootstrap token file {}", path.display()))?;
        tokens
            .ensure_global_admin(&token, "bootstrap admin")
            .await
            .context("storing the bootstrap token")?;
    }

    let pool = |list: &str| {
        traced_pool(
            &addresses(list),
            &settings.internal,
            settings.backends.connections_per_address,
        )
    };
    let deployment = pool(&settings.backends.deployment).context("backends.deployment")?;
    let book_runner = pool(&settings.backends.book_runner).context("backends.book_runner")?;
    let version = pool(&settings.backends.version).context("backends.version")?;

    let max = settings.limits.max_message_size;
    let feed_settings = settings.watch;
    let feeds = JobFeeds::new(feed_settings);
    let limiter = RateLimiter::new(settings.limits.requests_per_second, settings.limits.burst);
    let guard = auth::Guard::new(tokens.clone(), limiter);

    // Every public service needs a token; health and reflection (added by the endpoint) do not.
    let mut endpoint = Endpoint::new(Reflection::PublicContracts)
        .add_service(guard.wrap(Forward::new(
            DeploymentApi {
                feeds: GroupFeeds::new(feed_settings),
                operations: OperationFeeds::new(feed_settings),
            },
            deployment.clone(),
            rules.clone(),
            max,
        )))
        .add_service(guard.wrap(Forward::new(
            BookApi,
            book_runner.clone(),
            rules.clone(),
            max,
        )))
        .add_service(guard.wrap(Forward::new(
            JobApi {
                feeds,
                deployments: deployment.clone(),
            },
            book_runner.clone(),
            rules.clone(),
            max,
        )))
        .add_service(guard.wrap(Forward::new(
            VersionApi,
            version.clone(),
            rules.clone(),
            max,
        )))
        .add_service(guard.wrap(AccessServiceServer::new(grpc::AccessGrpc::new(
            tokens.clone(),
            rules,
        ))));
    if settings.grpc_web.enabled {
        endpoint = endpoint.grpc_web(GrpcWeb {
            allowed_origins: settings.grpc_web.allowed_origins.clone(),
        });
    }
    if settings.console.enabled {
        // The console calls the services above in process, as the signed-in token's holder.
        let console = console::Console::new(
            endpoint.in_process(),
            console::SessionLimits {
                idle_timeout: settings.console.session_idle_timeout,
                lifetime: settings.console.session_lifetime,
                max_sessions: settings.console.max_sessions,
            },
            settings.server.tls.is_enabled(),
        );
        endpoint = endpoint.http_routes(console::PREFIX, console::router(console));
    }
    backend_health::watch(
        vec![
            Backend {
                channel: deployment,
                services: &[DeploymentApi::NAME],
            },
            Backend {
                channel: book_runner,
                services: &[BookApi::NAME, JobApi::NAME],
            },
            Backend {
                channel: version,
                services: &[VersionApi::NAME],
            },
        ],
        endpoint.health_reporter(),
        settings.backends.health_check_interval,
    );
    endpoint.serve(listener, &settings.server, shutdown).await
}
