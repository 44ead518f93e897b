//! The gateway: Eyrie's one public endpoint. It serves the public `eyrie.v1` API, forwarding
//! each service to its backend, and owns API tokens.

pub mod auth;
pub mod bootstrap;
pub mod config;
mod forward;
mod grpc;
pub mod store;

use std::future::Future;

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{Endpoint, Reflection, parse_addresses as addresses, traced_channel},
};
use eyrie_proto::v1::access_service_server::AccessServiceServer;
use tokio::net::TcpListener;

pub use crate::config::Settings;
use crate::{
    forward::{Forward, PublicService},
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

macro_rules! public_service {
    ($marker:ident, $name:literal) => {
        struct $marker;
        impl PublicService for $marker {
            const NAME: &'static str = $name;
        }
    };
}

public_service!(DeploymentApi, "eyrie.v1.DeploymentService");
public_service!(BookApi, "eyrie.v1.BookService");
public_service!(JobApi, "eyrie.v1.JobService");
public_service!(VersionApi, "eyrie.v1.VersionService");

/// Serves the public API on `listener` until `shutdown` completes.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings.database)
        .await
        .context("gateway database")?;
    let tokens = TokenStore::new(db);
    if let Some(path) = &settings.auth.bootstrap_token_file {
        let token = bootstrap::load_or_create_token(path)
            .with_context(|| format!("bootstrap token file {}", path.display()))?;
        tokens
            .ensure_global_admin(&token, "bootstrap admin")
            .await
            .context("storing the bootstrap token")?;
    }

    let deployment =
        traced_channel(&addresses(&settings.backends.deployment)).context("backends.deployment")?;
    let book_runner = traced_channel(&addresses(&settings.backends.book_runner))
        .context("backends.book_runner")?;
    let version =
        traced_channel(&addresses(&settings.backends.version)).context("backends.version")?;

    // Every public service needs a token; health and reflection (added by the endpoint) do not.
    Endpoint::new(Reflection::PublicContracts)
        .add_service(auth::Authenticated::new(
            Forward::<DeploymentApi>::new(deployment),
            tokens.clone(),
        ))
        .add_service(auth::Authenticated::new(
            Forward::<BookApi>::new(book_runner.clone()),
            tokens.clone(),
        ))
        .add_service(auth::Authenticated::new(
            Forward::<JobApi>::new(book_runner),
            tokens.clone(),
        ))
        .add_service(auth::Authenticated::new(
            Forward::<VersionApi>::new(version),
            tokens.clone(),
        ))
        .add_service(auth::Authenticated::new(
            AccessServiceServer::new(grpc::AccessGrpc::new(tokens.clone())),
            tokens.clone(),
        ))
        .serve(listener, &settings.server, shutdown)
        .await
}
