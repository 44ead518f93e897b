//! Channels to peer services, carrying the caller's trace context and this service's internal
//! credential on every call.

use std::time::Duration;

use anyhow::Context as _;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use http::HeaderValue;
use secrecy::ExposeSecret as _;

use crate::{internal::InternalSettings, trace_context::inject_current};

/// A channel whose calls carry W3C trace context and the internal credential; generated clients
/// take it as their transport.
pub type TracedChannel = InterceptedService<Channel, PeerCalls>;

/// What every call to a peer carries: the caller's trace context, and the credential peers
/// require of each other (given to each channel, never held in a global, so that services with
/// different settings can share a process).
#[derive(Debug, Clone)]
pub struct PeerCalls {
    credential: Option<HeaderValue>,
}

impl tonic::service::Interceptor for PeerCalls {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        inject_current(&mut headers);
        if let Some(credential) = &self.credential {
            headers.insert(crate::internal::HEADER, credential.clone());
        }
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(request)
    }
}

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

/// Opens a lazy channel balanced over `addresses` (e.g. `http://127.0.0.1:7001`); `https://`
/// addresses are reached over TLS as `internal.tls` says, and every call carries
/// `internal.credential`.
///
/// Nothing connects until the first call, so a peer that starts later is no error here; a TLS
/// file that cannot be used is.
pub fn traced_channel(
    addresses: &[String],
    internal: &InternalSettings,
) -> anyhow::Result<TracedChannel> {
    traced_pool(addresses, internal, 1)
}

/// As [`traced_channel`], with `connections` HTTP/2 connections to each address, the calls
/// balanced over all of them: one connection carries every call of a busy caller through one
/// connection task and one socket, which a proxy in front of many clients outgrows.
pub fn traced_pool(
    addresses: &[String],
    internal: &InternalSettings,
    connections: usize,
) -> anyhow::Result<TracedChannel> {
    let tls = &internal.tls;
    anyhow::ensure!(
        !addresses.is_empty(),
        "no address given for the peer service"
    );
    let mut tls_config = None;
    let endpoints = addresses
        .iter()
        .map(|address| {
            let endpoint = Endpoint::from_shared(address.clone())
                .with_context(|| format!("invalid peer address {address:?}"))?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            if endpoint.uri().scheme() != Some(&http::uri::Scheme::HTTPS) {
                if tls.is_configured() {
                    tracing::warn!(
                        %address,
                        "internal.tls is configured but this peer address is http://: calls to it are not encrypted"
                    );
                }
                return Ok(endpoint);
            }
            let config = match &tls_config {
                Some(config) => Clone::clone(config),
                None => tls_config.insert(tls.client_config().context("internal.tls")?).clone(),
            };
            endpoint
                .tls_config(config)
                .with_context(|| format!("TLS for peer {address}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let endpoints: Vec<Endpoint> = endpoints
        .iter()
        .flat_map(|endpoint| std::iter::repeat_n(endpoint.clone(), connections.max(1)))
        .collect();
    let channel = match <[Endpoint; 1]>::try_from(endpoints) {
        Ok([endpoint]) => endpoint.connect_lazy(),
        Err(endpoints) => Channel::balance_list(endpoints.into_iter()),
    };
    let credential = match &internal.credential {
        Some(secret) => {
            let mut value = HeaderValue::from_str(secret.expose_secret())
                .context("internal.credential is not a valid header value")?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    Ok(InterceptedService::new(channel, PeerCalls { credential }))
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
