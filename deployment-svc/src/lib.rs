//! deployment-svc: projects, scopes, clusters, deployment groups, deployments and their lifecycle.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod relay;
pub mod service;
pub mod store;

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use eyrie_platform::{
    ServerSettings, TelemetrySettings,
    changes::Changes,
    grpc::{Endpoint, Reflection, parse_addresses, traced_channel},
};
use eyrie_proto::{
    internal::v1::{
        deployment_callbacks_server::DeploymentCallbacksServer, job_runner_client::JobRunnerClient,
    },
    v1::{
        book_service_client::BookServiceClient, deployment_service_server::DeploymentServiceServer,
    },
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::config::Settings;
use crate::{
    service::{
        lifecycle::{Lifecycle, Runner},
        resources::Resources,
    },
    store::{migration::Migrator, resources::ResourceStore},
};

/// The channel of deployment change signals (a deployment's resource name each).
const DEPLOYMENT_CHANGES: &str = "eyrie_deployment_changes";

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
        let runner = match &settings.peers.book_runner {
            Some(addresses) => {
                let channel = traced_channel(&parse_addresses(addresses), &settings.internal)
                    .context("peers.book_runner")?;
                Some(Runner {
                    jobs: Arc::new(grpc::peers::RemoteJobRunner(JobRunnerClient::new(
                        channel.clone(),
                    ))),
                    books: Arc::new(grpc::books::RemoteBookCatalog::new(BookServiceClient::new(
                        channel,
                    ))),
                })
            }
            None => None,
        };
        let stop = CancellationToken::new();
        // Every replica tells the watches of all replicas which deployment it changed.
        let changes = Changes::start(&db, &settings.database, DEPLOYMENT_CHANGES, stop.clone());
        let mut resources = Resources::new(ResourceStore::new(db.clone()), changes.clone());
        if let Some(runner) = &runner {
            // Group books must exist in book-runner-svc.
            resources = resources.with_books(runner.books.clone());
        }
        // Version records wait in the outbox until version-svc takes them; the relay polls it
        // (every 500 ms when idle), so a change is recorded within a second once version-svc is up.
        let relay = match &settings.peers.version {
            Some(addresses) => {
                let channel = traced_channel(&parse_addresses(addresses), &settings.internal)
                    .context("peers.version")?;
                let relay = relay::VersionRelay::new(
                    db.clone(),
                    eyrie_proto::internal::v1::version_recorder_client::VersionRecorderClient::new(
                        channel,
                    ),
                    changes.clone(),
                );
                Some(tokio::spawn(relay.run(stop.clone())))
            }
            None => None,
        };
        let versions: Option<Arc<dyn service::peers::VersionHistory>> =
            match &settings.peers.version {
                Some(addresses) => Some(Arc::new(grpc::peers::RemoteVersionHistory(
                    eyrie_proto::v1::version_service_client::VersionServiceClient::new(
                        traced_channel(&parse_addresses(addresses), &settings.internal)
                            .context("peers.version")?,
                    ),
                ))),
                None => None,
            };
        let lifecycle = Arc::new(Lifecycle::new(db, runner, versions, changes));
        let reconciler = tokio::spawn(
            lifecycle
                .clone()
                .run_reconciler(settings.lifecycle.reconcile_interval, stop.clone()),
        );
        let starter = tokio::spawn(
            lifecycle
                .clone()
                .run_starter(settings.lifecycle.reconcile_interval, stop.clone()),
        );

        let service = grpc::DeploymentGrpc::new(resources, lifecycle);
        let served = Endpoint::new(Reflection::AllContracts)
            .require_internal_credential(&settings.internal)
            .add_service(DeploymentServiceServer::new(service.clone()))
            .add_service(DeploymentCallbacksServer::new(service))
            .serve(listener, &settings.server, shutdown)
            .await;
        stop.cancel();
        let _ = reconciler.await;
        let _ = starter.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        served
    }
}
