//! One way to serve gRPC: our services plus health and reflection, behind the same middleware.

use std::{convert::Infallible, future::Future};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::{
    body::Body, server::NamedService, service::RoutesBuilder, transport::server::TcpIncoming,
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Service, ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::{config::ServerSettings, trace_context::RpcSpanLayer};

/// Which descriptors server reflection offers.
#[derive(Debug, Clone, Copy)]
pub enum Reflection {
    /// Every Eyrie contract, public and internal: what a service's own port shows.
    AllContracts,
    /// The public `eyrie.v1` package only: what the gateway shows.
    PublicContracts,
}

/// A gRPC endpoint being assembled: the services it serves, health and reflection.
pub struct Endpoint {
    routes: RoutesBuilder,
    served: Vec<&'static str>,
    reflection: Reflection,
}

impl Endpoint {
    /// Starts an endpoint offering `reflection`.
    pub fn new(reflection: Reflection) -> Self {
        Self {
            routes: RoutesBuilder::default(),
            served: Vec::new(),
            reflection,
        }
    }

    /// Adds a service; health reports it under its fully qualified name.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.served.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves on `listener` until `shutdown` completes, then drains calls in flight.
    ///
    /// Health answers `SERVING` for every added service (and the empty name, meaning the whole
    /// server) while it runs and `NOT_SERVING` once shutdown has begun.
    pub async fn serve(
        self,
        listener: TcpListener,
        settings: &ServerSettings,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = self.routes;
        routes.add_service(health_service);
        add_reflection(&mut routes, self.reflection, &self.served)?;
        set_status(&health, &self.served, ServingStatus::Serving).await;

        let address = listener
            .local_addr()
            .context("listener has no local address")?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = self.served;
        let reporter = health.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!(%address, "shutting down: draining calls in flight");
            set_status(&reporter, &served, ServingStatus::NotServing).await;
        };

        tonic::transport::Server::builder()
            // Applies the client's `grpc-timeout`, or this default when it sends none.
            .timeout(settings.request_timeout)
            .layer(
                ServiceBuilder::new()
                    // Outermost: every call gets an `x-request-id` (the caller's, or a new one)...
                    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                    // ...which is echoed back so a client can quote it in a bug report...
                    .layer(PropagateRequestIdLayer::x_request_id())
                    // ...and recorded on the call's span, parented on the caller's trace.
                    .layer(RpcSpanLayer)
                    // Bounds the work of the whole process; waiting calls still obey their timeout.
                    .layer(GlobalConcurrencyLimitLayer::new(settings.concurrency_limit))
                    .into_inner(),
            )
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .context("gRPC server failed")
    }
}

fn add_reflection(
    routes: &mut RoutesBuilder,
    reflection: Reflection,
    served: &[&'static str],
) -> anyhow::Result<()> {
    let descriptors = match reflection {
        Reflection::AllContracts => eyrie_proto::FILE_DESCRIPTOR_SET,
        Reflection::PublicContracts => eyrie_proto::PUBLIC_FILE_DESCRIPTOR_SET,
    };
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptors)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        // List only what this endpoint really serves, not every service of the descriptors.
        for name in served.iter().copied().chain([HEALTH_SERVICE]) {
            builder = builder.with_service_name(name);
        }
        builder
    };
    routes.add_service(builder().build_v1().context("reflection v1")?);
    routes.add_service(builder().build_v1alpha().context("reflection v1alpha")?);
    Ok(())
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

async fn set_status(health: &HealthReporter, served: &[&'static str], status: ServingStatus) {
    for name in served.iter().copied().chain([""]) {
        health.set_service_status(name, status).await;
    }
}
