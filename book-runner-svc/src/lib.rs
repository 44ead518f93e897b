//! book-runner-svc: Deployment Books, and the durable jobs that run them against clusters.

pub mod cluster;
pub mod config;
pub mod domain;
mod grpc;
pub mod store;

use std::future::Future;

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{Endpoint, Reflection},
};
use eyrie_proto::{
    internal::v1::job_runner_server::JobRunnerServer,
    v1::{book_service_server::BookServiceServer, job_service_server::JobServiceServer},
};
use tokio::net::TcpListener;

pub use crate::config::Settings;
use crate::store::migration::Migrator;

/// book-runner-svc as a service: `eyrie serve`, its own binary, or a part of `eyrie up`.
pub struct BookRunnerSvc;

impl eyrie_platform::standalone::Service for BookRunnerSvc {
    const NAME: &'static str = "book-runner-svc";
    const DEFAULT_PORT: u16 = 50062;
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
            .context("book-runner-svc database")?;
        Endpoint::new(Reflection::AllContracts)
            .add_service(BookServiceServer::new(grpc::RunnerGrpc))
            .add_service(JobServiceServer::new(grpc::RunnerGrpc))
            .add_service(JobRunnerServer::new(grpc::RunnerGrpc))
            .serve(listener, &settings.server, shutdown)
            .await
    }
}
