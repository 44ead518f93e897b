//! Who calls: the identity the gateway forwards with every call it lets through, read the same
//! way by every service.

/// The header carrying the caller's identity (a token's resource name, e.g. `tokens/admin`).
/// Services trust it only on calls that carry the internal credential (`internal`).
pub const ACTOR_HEADER: &str = "x-eyrie-actor";

/// The identity recorded when a call carries none (a peer's own call, a test).
pub const ANONYMOUS: &str = "anonymous";

/// The caller identity of `request`; [`ANONYMOUS`] without one.
pub fn actor<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get(ACTOR_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .unwrap_or(ANONYMOUS)
        .to_owned()
}

/// The token of an `authorization: Bearer <token>` header; `None` without one, with another
/// scheme, or with an empty token.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
