//! `GET /metrics` on a service's own port: the process's metrics in Prometheus' text format.
//!
//! It is answered before the gRPC stack: neither the internal credential nor the gateway's
//! tokens apply (Prometheus presents neither), the scrape takes no concurrency slot and is not
//! logged as a call. It is protected by its own bearer token when `[server.metrics] token` is
//! set (Prometheus' `authorization` setting); what it shows never names a tenant's resource.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tonic::body::Body;
use tower::{Layer, Service};

/// The path Prometheus scrapes.
pub const PATH: &str = "/metrics";

/// `[server.metrics]`: the scrape endpoint on the service's port.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrapeSettings {
    /// Serve `GET /metrics` (on by default).
    pub enabled: bool,
    /// When set, a scrape must present `authorization: Bearer <token>` (prefer
    /// `EYRIE_SERVER__METRICS__TOKEN`). Unset: anyone who reaches the port may read the metrics.
    pub token: Option<SecretString>,
}

impl Default for ScrapeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
        }
    }
}

/// Answers [`PATH`] with the metrics; passes every other request on.
#[derive(Clone)]
pub struct ScrapeLayer {
    token: Option<Arc<SecretString>>,
}

impl ScrapeLayer {
    /// The layer `settings` ask for, if any.
    pub fn new(settings: &ScrapeSettings) -> Option<Self> {
        settings.enabled.then(|| Self {
            token: settings.token.clone().map(Arc::new),
        })
    }
}

impl<S> Layer<S> for ScrapeLayer {
    type Service = Scrape<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Scrape {
            inner,
            token: self.token.clone(),
        }
    }
}

/// See [`ScrapeLayer`].
#[derive(Clone)]
pub struct Scrape<S> {
    inner: S,
    token: Option<Arc<SecretString>>,
}

/// Whether `request` presents `token` (compared in constant time).
fn authorized(request: &http::Request<Body>, token: &SecretString) -> bool {
    crate::caller::bearer_token(request.headers()).is_some_and(|presented| {
        crate::internal::same(presented.as_bytes(), token.expose_secret().as_bytes())
    })
}

fn plain(status: http::StatusCode, text: String) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(axum::body::Body::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

impl<S> Service<http::Request<Body>> for Scrape<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != PATH {
            return self.inner.call(request).boxed();
        }
        let response = if request.method() != http::Method::GET {
            let mut response = plain(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "only GET reads the metrics\n".to_owned(),
            );
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
            response
        } else if self
            .token
            .as_deref()
            .is_some_and(|token| !authorized(&request, token))
        {
            let mut response = plain(
                http::StatusCode::UNAUTHORIZED,
                "the metrics need `authorization: Bearer <server.metrics.token>`\n".to_owned(),
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            response
        } else {
            plain(http::StatusCode::OK, super::prometheus_text())
        };
        async move { Ok(response) }.boxed()
    }
}
