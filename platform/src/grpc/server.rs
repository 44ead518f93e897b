//! One way to serve gRPC: our services plus health and reflection, behind the same middleware.

use std::{
    convert::Infallible,
    future::Future,
    task::{Context, Poll},
};

use anyhow::Context as _;
use axum::body::HttpBody;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::server::TcpIncoming,
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Layer, Service, ServiceBuilder, ServiceExt as _, limit::GlobalConcurrencyLimitLayer};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

use tokio_util::sync::CancellationToken;

use super::drain::DrainLayer;
use crate::{config::ServerSettings, trace_context::RpcSpanLayer};

/// Which descriptors server reflection offers.
#[derive(Debug, Clone, Copy)]
pub enum Reflection {
    /// Every Eyrie contract, public and internal: what a service's own port shows.
    AllContracts,
    /// The public `eyrie.v1` package only: what the gateway shows.
    PublicContracts,
}

/// Browser access: gRPC-Web over HTTP/1.1, and the web origins allowed to call.
#[derive(Debug, Clone, Default)]
pub struct GrpcWeb {
    /// Origins (`https://console.example.com`) whose pages may call; `*` allows any. Empty:
    /// gRPC-Web only from pages of the same origin (no CORS headers).
    pub allowed_origins: Vec<String>,
}

/// A gRPC endpoint being assembled: the services it serves, health and reflection, and plain
/// HTTP routes beside them.
pub struct Endpoint {
    routes: RoutesBuilder,
    served: Vec<&'static str>,
    reflection: Reflection,
    health: HealthReporter,
    grpc_web: Option<GrpcWeb>,
    http: Option<HttpRoutes>,
    internal_credential: Option<secrecy::SecretString>,
}

/// Plain HTTP routes (web pages) served on a gRPC endpoint's port, under one path prefix.
#[derive(Clone)]
struct HttpRoutes {
    prefix: &'static str,
    router: axum::Router,
}

impl HttpRoutes {
    /// Whether `path` is the prefix itself or below it (`/_eyrie`, `/_eyrie/...`, not
    /// `/_eyrie2`).
    fn claims(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The gRPC services of an [`Endpoint`], called in process: a cloneable transport for tonic's
/// generated clients (`DeploymentServiceClient::new(in_process)`).
///
/// A call goes through each service exactly as one from the network would (the services'
/// own wrappers, such as authentication, included), without a socket; the endpoint's
/// connection-level middleware (request ids, spans, the concurrency limit) is the caller's:
/// the HTTP request being served when a page calls the API.
#[derive(Clone, Debug)]
pub struct InProcess {
    routes: Routes,
}

impl Service<http::Request<Body>> for InProcess {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The routes are always ready; each call runs on its own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(self.routes.clone().oneshot(request))
    }
}

impl Endpoint {
    /// Starts an endpoint offering `reflection`.
    pub fn new(reflection: Reflection) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Self {
            routes,
            served: Vec::new(),
            reflection,
            health,
            grpc_web: None,
            http: None,
            internal_credential: None,
        }
    }

    /// Also serves `router`'s plain HTTP routes, for requests whose path is `prefix` (such as
    /// `/_eyrie`) or below it, over HTTP/1.1 as well as HTTP/2. They pass the endpoint's
    /// request-id, span and concurrency layers but neither gRPC-Web's translation nor its
    /// CORS policy; every other path is gRPC's. `router` should not set a fallback of its
    /// own outside `prefix`: it never sees other paths.
    pub fn http_routes(mut self, prefix: &'static str, router: axum::Router) -> Self {
        self.http = Some(HttpRoutes { prefix, router });
        self
    }

    /// The services added so far, for calls made in process (see [`InProcess`]). Reflection,
    /// added when serving starts, is not among them.
    pub fn in_process(&self) -> InProcess {
        InProcess {
            routes: self.routes.clone().routes().prepare(),
        }
    }

    /// The health reporter, for a server whose services depend on others (the gateway reports
    /// a backend that is down as its services `NOT_SERVING`).
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Accepts calls only with the internal credential of `settings`, when one is set.
    pub fn require_internal_credential(
        mut self,
        settings: &crate::internal::InternalSettings,
    ) -> Self {
        self.internal_credential = settings.credential.clone();
        self
    }

    /// Also accepts gRPC-Web calls from browsers.
    pub fn grpc_web(mut self, web: GrpcWeb) -> Self {
        self.grpc_web = Some(web);
        self
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

    /// Serves on `listener` until `shutdown` completes, then drains calls in flight; over TLS
    /// when `settings.tls` names a certificate.
    ///
    /// Health answers `SERVING` for every added service (and the empty name, meaning the whole
    /// server) while it runs and `NOT_SERVING` once shutdown has begun.
    pub async fn serve(
        self,
        listener: TcpListener,
        settings: &ServerSettings,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let web = self.grpc_web;
        let http = self.http;
        let scrape = crate::metrics::scrape::ScrapeLayer::new(&settings.metrics);
        // Browsers speak gRPC-Web, and read pages, over HTTP/1.1; so does Prometheus.
        let http1 = web.is_some() || http.is_some() || scrape.is_some();
        // Read before anything is served, so that a wrong file stops the service at start.
        let tls = settings.tls.server_config(http1).context("server.tls")?;
        let health = self.health;
        let mut routes = self.routes;
        add_reflection(&mut routes, self.reflection, &self.served)?;
        set_status(&health, &self.served, ServingStatus::Serving).await;

        let address = listener
            .local_addr()
            .context("listener has no local address")?;
        let served = self.served;
        let reporter = health.clone();
        // Cancelled `drain_timeout` after the shutdown began: the streams still open end then.
        let cut = CancellationToken::new();
        let drain_timeout = settings.drain_timeout;
        let cut_later = cut.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!(%address, ?drain_timeout, "shutting down: draining calls in flight");
            set_status(&reporter, &served, ServingStatus::NotServing).await;
            tokio::spawn(async move {
                tokio::time::sleep(drain_timeout).await;
                cut_later.cancel();
            });
        };

        let internal = self
            .internal_credential
            .map(crate::internal::RequireCredentialLayer::new);
        let router = tonic::transport::Server::builder()
            // Applies the client's `grpc-timeout`, or this default when it sends none.
            .timeout(settings.request_timeout)
            .max_concurrent_streams(settings.max_concurrent_streams)
            .http2_keepalive_interval(Some(settings.keepalive_interval))
            .http2_keepalive_timeout(Some(settings.keepalive_timeout))
            .accept_http1(http1)
            .layer(
                ServiceBuilder::new()
                    // Outermost: at shutdown, what is still open after the drain time ends.
                    .layer(DrainLayer::new(cut))
                    // Every call gets an `x-request-id` (the caller's, or a new one)...
                    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                    // ...which is echoed back so a client can quote it in a bug report...
                    .layer(PropagateRequestIdLayer::x_request_id())
                    // `GET /metrics`, for Prometheus: before the internal credential (which it
                    // cannot present) and the concurrency limit, and not logged as a call.
                    .option_layer(scrape)
                    // Every call is recorded on its span, parented on the caller's trace.
                    .layer(RpcSpanLayer)
                    // Refuses callers without the internal credential before they cost a
                    // concurrency slot (health and reflection stay open to probes).
                    .option_layer(internal)
                    // Bounds the work of the whole process; waiting calls still obey their timeout.
                    .layer(GlobalConcurrencyLimitLayer::new(settings.concurrency_limit))
                    // Sends the paths of the plain HTTP routes to them, past the gRPC-Web
                    // translation (which refuses any other HTTP/1.1 request).
                    .layer(HttpOrGrpcLayer { http })
                    // Answers browsers' CORS preflights, then turns gRPC-Web into gRPC.
                    .option_layer(web.as_ref().and_then(cors))
                    .option_layer(web.as_ref().map(|_| tonic_web::GrpcWebLayer::new()))
                    // Innermost, where every call is plain gRPC (gRPC-Web translated), each
                    // call's method, status and duration (`rpc.server.duration`).
                    .layer(crate::metrics::rpc::RpcMetricsLayer)
                    .into_inner(),
            )
            .add_routes(routes.routes());
        match tls {
            Some(config) => {
                router
                    .serve_with_incoming_shutdown(crate::tls::incoming(listener, config), shutdown)
                    .await
            }
            None => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
            }
        }
        .context("gRPC server failed")
    }
}

/// Puts [`HttpOrGrpc`] in front of the gRPC stack.
#[derive(Clone)]
struct HttpOrGrpcLayer {
    http: Option<HttpRoutes>,
}

impl<S> Layer<S> for HttpOrGrpcLayer {
    type Service = HttpOrGrpc<S>;

    fn layer(&self, grpc: S) -> Self::Service {
        HttpOrGrpc {
            http: self.http.clone(),
            grpc,
        }
    }
}

/// Serves the HTTP routes' paths with them, every other path with the gRPC stack.
#[derive(Clone)]
struct HttpOrGrpc<S> {
    http: Option<HttpRoutes>,
    grpc: S,
}

impl<S, B> Service<http::Request<B>> for HttpOrGrpc<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call runs on a clone made ready in `call` (the routes are always ready).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match &self.http {
            Some(http) if http.claims(request.uri().path()) => {
                let router = http.router.clone();
                Box::pin(async move {
                    let response = router.oneshot(request).await?;
                    Ok(response.map(Body::new))
                })
            }
            _ => Box::pin(self.grpc.clone().oneshot(request)),
        }
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
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc's error details (BadRequest, PreconditionFailure, ...), so that generic
            // clients such as grpcurl can decode the details our refusals carry.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
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

/// The CORS policy of `web`: none when no other origin may call.
fn cors(web: &GrpcWeb) -> Option<CorsLayer> {
    if web.allowed_origins.is_empty() {
        return None;
    }
    let origins = if web.allowed_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            web.allowed_origins
                .iter()
                .filter_map(|origin| http::HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([http::Method::POST, http::Method::OPTIONS])
            .allow_headers(
                [
                    "authorization",
                    "content-type",
                    "grpc-timeout",
                    "x-grpc-web",
                    "x-user-agent",
                    "x-request-id",
                ]
                .map(http::HeaderName::from_static),
            )
            .expose_headers(
                [
                    "grpc-status",
                    "grpc-message",
                    "grpc-status-details-bin",
                    "x-request-id",
                ]
                .map(http::HeaderName::from_static),
            )
            .max_age(std::time::Duration::from_secs(24 * 60 * 60)),
    )
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

async fn set_status(health: &HealthReporter, served: &[&'static str], status: ServingStatus) {
    for name in served.iter().copied().chain([""]) {
        health.set_service_status(name, status).await;
    }
}
