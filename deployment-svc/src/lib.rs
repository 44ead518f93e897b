//! deployment-svc: projects, scopes, clusters, deployment groups, deployments and their lifecycle.

pub mod config;
mod grpc;
pub mod store;

use std::future::Future;

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{Endpoint, Reflection},
};
use eyrie_proto::{
    internal::v1::deployment_callbacks_server::DeploymentCallbacksServer,
    v1::deployment_service_server::DeploymentServiceServer,
};
use tokio::net::TcpListener;

pub use crate::config::Settings;
use crate::store::migration::Migrator;

/// deployment-svc as a service: `eyrie serve`, its own binary, or a part of `eyrie up`.
pub struct DeploymentSvc;

impl eyrie_platform::standalone::Service for DeploymentSvc {
    const NAME: &'static str = "deployment-svc";
    const DEFAULT_PORT: u16 = 50061;
    type Settings = Settings;

    fn server(settings: &Settings) -> &ServerSettings {
        &settings.server
    }

    fn telemetry(settings: &Settings) -> &TelemetrySettings {
        &settings.telemetry
    }

    async fn run(
        settings: Settings,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let _db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings.database)
            .await
            .context("deployment-svc database")?;
        Endpoint::new(Reflection::AllContracts)
            .add_service(DeploymentServiceServer::new(grpc::DeploymentGrpc))
            .add_service(DeploymentCallbacksServer::new(grpc::DeploymentGrpc))
            .serve(listener, &settings.server, shutdown)
            .await
    }
}
