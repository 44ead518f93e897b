//! Channels to peer services, carrying the caller's trace context on every call.

use std::time::Duration;

use anyhow::Context as _;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::trace_context::propagate_trace;

/// A channel whose calls carry W3C trace context; generated clients take it as their transport.
pub type TracedChannel = InterceptedService<
    Channel,
    fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>,
>;

/// How long connecting to a peer may take before a call fails with `UNAVAILABLE`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Splits a comma-separated list of addresses, ignoring blanks.
pub fn parse_addresses(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Opens a lazy channel balanced over `addresses` (e.g. `http://127.0.0.1:7001`).
///
/// Nothing connects until the first call, so a peer that starts later is no error here.
pub fn traced_channel(addresses: &[String]) -> anyhow::Result<TracedChannel> {
    anyhow::ensure!(
        !addresses.is_empty(),
        "no address given for the peer service"
    );
    let endpoints = addresses
        .iter()
        .map(|address| {
            Endpoint::from_shared(address.clone())
                .with_context(|| format!("invalid peer address {address:?}"))
                .map(|endpoint| {
                    endpoint
                        .connect_timeout(CONNECT_TIMEOUT)
                        .tcp_nodelay(true)
                        .http2_keep_alive_interval(Duration::from_secs(30))
                        .keep_alive_while_idle(true)
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let channel = match <[Endpoint; 1]>::try_from(endpoints) {
        Ok([endpoint]) => endpoint.connect_lazy(),
        Err(endpoints) => Channel::balance_list(endpoints.into_iter()),
    };
    Ok(InterceptedService::new(channel, propagate_trace as _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists_split_on_commas() {
        assert_eq!(
            parse_addresses(" http://a:1, http://b:2 ,,"),
            ["http://a:1".to_owned(), "http://b:2".to_owned()]
        );
        assert!(parse_addresses("").is_empty());
    }
}
