//! version-svc: the history of every deployment's key fields, one version per change.

pub mod config;
pub mod domain;
mod grpc;
pub mod service;
pub mod store;

use std::future::Future;

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{Endpoint, Reflection},
};
use eyrie_proto::{
    internal::v1::version_recorder_server::VersionRecorderServer,
    v1::version_service_server::VersionServiceServer,
};
use tokio::net::TcpListener;

pub use crate::config::Settings;
use crate::{
    service::Versions,
    store::{SeaVersionStore, migration::Migrator},
};

/// version-svc as a service: `eyrie serve`, its own binary, or a part of `eyrie up`.
pub struct VersionSvc;

impl eyrie_platform::standalone::Service for VersionSvc {
    const NAME: &'static str = "version-svc";
    const DEFAULT_PORT: u16 = 50063;
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
            .context("version-svc database")?;
        let service = grpc::VersionGrpc::new(Versions::new(SeaVersionStore::new(db)));
        Endpoint::new(Reflection::AllContracts)
            .require_internal_credential(&settings.internal)
            .add_service(VersionServiceServer::new(service.clone()))
            .add_service(VersionRecorderServer::new(service))
            .serve(listener, &settings.server, shutdown)
            .await
    }
}
