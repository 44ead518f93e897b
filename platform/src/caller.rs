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
