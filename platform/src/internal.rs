//! The credential services share, so that each accepts calls (and the caller identity in
//! `x-eyrie-actor`) only from the gateway and its peers, never from a client that reached a
//! service port directly.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// Header carrying the credential between services.
pub const HEADER: &str = "x-eyrie-internal-credential";

/// The `[internal]` section every service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternalSettings {
    /// Secret shared by the gateway and the services (prefer `EYRIE_INTERNAL__CREDENTIAL`).
    /// Unset: services accept calls from anyone who reaches their port (`eyrie up` never leaves
    /// it unset: it makes a fresh one on every start).
    pub credential: Option<SecretString>,
    /// `[internal.tls]`: the CA that `https://` peers' certificates are checked against, and
    /// the certificate presented to peers requiring one.
    pub tls: crate::tls::ClientTlsSettings,
}

impl InternalSettings {
    /// Settings requiring `credential`, e.g. one made for a single run and never stored.
    pub fn with_credential(credential: String) -> Self {
        Self {
            credential: Some(SecretString::from(credential)),
            ..Self::default()
        }
    }
}

/// Server layer refusing calls without the credential (health and reflection stay open).
#[derive(Clone)]
pub struct RequireCredentialLayer {
    expected: std::sync::Arc<SecretString>,
}

impl RequireCredentialLayer {
    /// Requires `credential` on every call.
    pub fn new(credential: SecretString) -> Self {
        Self {
            expected: std::sync::Arc::new(credential),
        }
    }
}

impl<S> Layer<S> for RequireCredentialLayer {
    type Service = RequireCredential<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireCredential {
            inner,
            expected: self.expected.clone(),
        }
    }
}

/// See [`RequireCredentialLayer`].
#[derive(Clone)]
pub struct RequireCredential<S> {
    inner: S,
    expected: std::sync::Arc<SecretString>,
}

fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// Whether two secrets are equal, in a time that does not tell how much of them matched.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

impl<S> Service<http::Request<Body>> for RequireCredential<S>
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
        let presented = request
            .headers()
            .get(HEADER)
            .is_some_and(|value| same(value.as_bytes(), self.expected.expose_secret().as_bytes()));
        if presented || is_open(request.uri().path()) {
            self.inner.call(request).boxed()
        } else {
            let refusal = Status::unauthenticated(
                "this service accepts calls only from Eyrie's gateway and services; call the gateway",
            );
            async move { Ok(refusal.into_http()) }.boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(!is_open("/eyrie.internal.v1.JobRunner/StartJob"));
    }
}
