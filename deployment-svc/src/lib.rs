//! deployment-svc: projects, scopes, clusters, deployment groups, deployments and their lifecycle.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod service;
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
use crate::{
    service::resources::Resources,
    store::{migration::Migrator, resources::ResourceStore},
};

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
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings.database)
            .await
            .context("deployment-svc database")?;
        // TODO(#6): once the settings name book-runner-svc, check group books against it:
        // `.with_books(Arc::new(grpc::books::RemoteBookCatalog::new(client)))`.
        let service = grpc::DeploymentGrpc::new(Resources::new(ResourceStore::new(db)));
        Endpoint::new(Reflection::AllContracts)
            .add_service(DeploymentServiceServer::new(service.clone()))
            .add_service(DeploymentCallbacksServer::new(service))
            .serve(listener, &settings.server, shutdown)
            .await
    }
}
