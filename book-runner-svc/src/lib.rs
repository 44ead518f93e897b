//! book-runner-svc: Deployment Books, and the durable jobs that run them against clusters.

pub mod cluster;
pub mod config;
pub mod domain;
pub mod engine;
pub mod grpc;
pub mod service;
pub mod store;

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    grpc::{Endpoint, Reflection, traced_channel},
};
use eyrie_proto::{
    internal::v1::{
        deployment_callbacks_client::DeploymentCallbacksClient, job_runner_server::JobRunnerServer,
    },
    v1::{book_service_server::BookServiceServer, job_service_server::JobServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::config::Settings;
use crate::{
    domain::{builtin::builtin_books, template::Templates},
    engine::Engine,
    service::jobs::Jobs,
    store::{books::SeaBookStore, jobs::SeaJobStore, migration::Migrator},
};

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
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings.database)
            .await
            .context("book-runner-svc database")?;
        let books = SeaBookStore::new(db.clone());
        books
            .ensure_builtins(&builtin_books())
            .await
            .context("installing the built-in books")?;
        let deployments = match &settings.peers.deployment {
            Some(addresses) => Some(DeploymentCallbacksClient::new(
                traced_channel(
                    &eyrie_platform::grpc::parse_addresses(addresses),
                    &settings.internal,
                )
                .context("peers.deployment")?,
            )),
            None => None,
        };

        let templates = Arc::new(Templates::default());
        let book_service = grpc::books::BookGrpc::new(service::books::Books::new(
            books.clone(),
            templates.clone(),
            deployments.clone(),
        ));
        let jobs_store = SeaJobStore::new(db.clone());
        let signals_channel = jobs_store
            .signals_channel()
            .await
            .context("the jobs' signals channel")?;
        let engine = Engine::new(jobs_store, templates, settings.runner.clone(), deployments);
        let stop = CancellationToken::new();
        let mut workers = engine.start(stop.clone());
        if let Some(channel) = signals_channel {
            let signals = eyrie_platform::changes::Changes::start_on_channel(
                &db,
                &settings.database,
                channel,
                stop.clone(),
            );
            workers.spawn(engine.clone().wake_on(signals, stop.clone()));
        }
        workers.spawn(service::retention::run(
            engine.store().clone(),
            settings.runner.retention.clone(),
            stop.clone(),
        ));
        let draining = engine.clone();
        let jobs = Arc::new(Jobs::new(engine, books));
        // SIGTERM (a rollout): the server drains its calls while the engine stops claiming and
        // lets its running jobs end within the grace; what still runs then stops without
        // writing and is handed back, so another replica takes it over at once.
        let stopping = CancellationToken::new();
        tokio::spawn({
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                stopping.cancel();
            }
        });
        let grace = settings.runner.shutdown_grace;
        let engine_stopped = {
            let stopping = stopping.clone();
            async move {
                stopping.cancelled().await;
                draining.drain(grace).await;
                stop.cancel();
                while workers.join_next().await.is_some() {}
            }
        };
        let serving = Endpoint::new(Reflection::AllContracts)
            .require_internal_credential(&settings.internal)
            .add_service(BookServiceServer::new(book_service))
            .add_service(JobServiceServer::new(grpc::jobs::JobGrpc::new(
                jobs.clone(),
            )))
            .add_service(JobRunnerServer::new(grpc::runner::RunnerGrpc::new(jobs)))
            .serve(listener, &settings.server, stopping.cancelled_owned());
        let (served, ()) = tokio::join!(serving, engine_stopped);
        served
    }
}
