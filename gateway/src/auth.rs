//! Authentication: every call through the gateway carries `authorization: Bearer <token>`.
//!
//! A known, live token lets the call through with the caller's identity in `x-eyrie-actor`
//! (whatever the client put there is replaced) and without the secret, which never reaches the
//! services. Health and reflection stay open: they are not wrapped.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::HeaderValue;
use tonic::{Status, body::Body, server::NamedService};

use crate::{
    rate_limit::RateLimiter,
    store::{StoredToken, TokenStore},
};

/// Header carrying the caller's identity to the services.
pub use eyrie_platform::caller::ACTOR_HEADER;

/// The authenticated caller, for the gateway's own services (request extension); shared with
/// the gateway's recent tokens, not copied.
#[derive(Debug, Clone)]
pub struct Caller(pub std::sync::Arc<StoredToken>);

impl Caller {
    /// The caller's resource name, `tokens/{id}`.
    pub fn name(&self) -> String {
        format!("tokens/{}", self.0.token.id)
    }

    /// What the caller may do.
    pub fn grants(&self) -> crate::access::Grants {
        crate::access::Grants::of(&self.0)
    }
}

/// What every guarded service shares: the tokens and the callers' rate limits.
#[derive(Clone)]
pub struct Guard {
    tokens: TokenStore,
    limiter: RateLimiter,
}

impl Guard {
    /// Authenticates with `tokens`, limits with `limiter`.
    pub fn new(tokens: TokenStore, limiter: RateLimiter) -> Self {
        Self { tokens, limiter }
    }

    /// `service`, reachable by authenticated callers within their rate only.
    pub fn wrap<S>(&self, service: S) -> Authenticated<S> {
        Authenticated {
            inner: service,
            guard: self.clone(),
        }
    }
}

/// Wraps a service so that only authenticated calls reach it (made by [`Guard::wrap`]).
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    guard: Guard,
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer(request: &http::Request<Body>) -> Option<&str> {
    eyrie_platform::caller::bearer_token(request.headers())
}

impl<S> tower::Service<http::Request<Body>> for Authenticated<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready clone serves this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Guard { tokens, limiter } = self.guard.clone();
        Box::pin(async move {
            let Some(secret) = bearer(&request) else {
                crate::metrics::auth_refused("missing");
                return Ok(Status::unauthenticated(
                    "missing `authorization: Bearer <token>` metadata",
                )
                .into_http());
            };
            let caller = match tokens.authenticate(secret).await {
                Ok(Some(token)) => Caller(token),
                Ok(None) => {
                    crate::metrics::auth_refused("unknown");
                    return Ok(Status::unauthenticated("unknown or revoked token").into_http());
                }
                Err(err) => return Ok(eyrie_platform::status::store(&err.into()).into_http()),
            };
            if let Err(wait) = limiter.check(&caller.0.token.id) {
                crate::metrics::auth_refused("rate_limited");
                return Ok(Status::resource_exhausted(format!(
                    "{} is over its rate limit; retry in {} ms",
                    caller.name(),
                    wait.as_millis().max(1)
                ))
                .into_http());
            }
            let headers = request.headers_mut();
            headers.remove(http::header::AUTHORIZATION);
            if let Ok(actor) = HeaderValue::from_str(&caller.name()) {
                headers.insert(ACTOR_HEADER, actor);
            }
            request.extensions_mut().insert(caller);
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> http::Request<Body> {
        let mut builder = http::Request::builder();
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_nothing_else_counts() {
        assert_eq!(bearer(&request(Some("Bearer eyr_abc"))), Some("eyr_abc"));
        assert_eq!(bearer(&request(Some("bearer  eyr_abc "))), Some("eyr_abc"));
        assert_eq!(bearer(&request(Some("Basic dXNlcjpwYXNz"))), None);
        assert_eq!(bearer(&request(Some("Bearer "))), None);
        assert_eq!(bearer(&request(None)), None);
    }
}
