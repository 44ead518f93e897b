//! The `http.check` step: polls a URL until it answers, reaching only hosts the runner allows.
//!
//! The host is resolved once (retried until it resolves), every address it resolves to is
//! checked against [`check_host`], and each request then goes to those checked addresses, the
//! URL's host travelling in the `Host` header: a name that resolves elsewhere later (DNS
//! rebinding) cannot move the check. Redirects are not followed: a redirect is an answer like any
//! other (`expect_status: 302` checks for one), so it cannot lead the runner anywhere.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use bytes::Bytes;
use http::{Uri, header::HOST};
use http_body_util::Empty;
use hyper_util::client::legacy::{Client, connect::HttpConnector};

use super::{POLL, argument, required};
use crate::domain::hosts::{AllowedHost, check_host};

/// Polls a URL until it answers with the expected status.
pub(super) async fn http_check(
    arguments: &BTreeMap<String, String>,
    allowed: &[AllowedHost],
    say: &impl Fn(String),
) -> Result<(), String> {
    check_with(arguments, allowed, say, resolve).await
}

/// [`http_check`], resolving host names with `resolve`.
async fn check_with<R: Future<Output = Result<Vec<SocketAddr>, String>>>(
    arguments: &BTreeMap<String, String>,
    allowed: &[AllowedHost],
    say: &impl Fn(String),
    resolve: impl Fn(String, u16) -> R,
) -> Result<(), String> {
    let url = required(arguments, "url")?.trim();
    let expected = match argument(arguments, "expect_status") {
        Some(status) => status
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("expect_status {status:?} is not a status code"))?,
        None => 200,
    };
    let uri: Uri = url.parse().map_err(|err| format!("url {url:?}: {err}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "url {url:?}: only http:// URLs can be checked by this runner"
        ));
    }
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| format!("url {url:?} has no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let target = Target {
        host_header: match uri.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        },
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string),
    };

    let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Empty<Bytes>>();
    say(format!("waiting for {url} to answer {expected}"));
    let mut addresses: Vec<SocketAddr> = Vec::new();
    let mut last = String::new();
    loop {
        if addresses.is_empty() {
            match resolve(host.to_owned(), port).await {
                Ok(resolved) => {
                    for address in &resolved {
                        check_host(allowed, host, address.ip(), is_runner_address)
                            .map_err(|refusal| format!("url {url:?}: {refusal}"))?;
                    }
                    addresses = resolved;
                }
                // A name that does not resolve yet (a new ingress) is waited for, as a
                // server that does not answer yet is.
                Err(err) => last = report(say, url, &last, format!("no answer ({err})")),
            }
        }
        if !addresses.is_empty() {
            let answer = target.ask(&client, &addresses).await;
            if answer == expected.to_string() {
                say(format!("{url} answered {expected}"));
                return Ok(());
            }
            last = report(say, url, &last, answer);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Says `answer` unless it is the one said last; returns it.
fn report(say: &impl Fn(String), url: &str, last: &str, answer: String) -> String {
    if answer != last {
        say(format!("{url}: {answer}"));
    }
    answer
}

/// What is asked of each checked address.
struct Target {
    host_header: String,
    path: String,
}

impl Target {
    /// The status the first address that answers gives, or why none did.
    async fn ask(
        &self,
        client: &Client<HttpConnector, Empty<Bytes>>,
        addresses: &[SocketAddr],
    ) -> String {
        let mut failure = String::new();
        for address in addresses {
            // The address itself in the URI: the connector then connects to it without
            // resolving anything.
            let request = http::Request::get(format!("http://{address}{}", self.path))
                .header(HOST, &self.host_header)
                .body(Empty::new());
            let request = match request {
                Ok(request) => request,
                Err(err) => return format!("no answer ({err})"),
            };
            match client.request(request).await {
                Ok(response) => return response.status().as_u16().to_string(),
                Err(err) => failure = format!("no answer ({err})"),
            }
        }
        failure
    }
}

/// The addresses of `host` (an IP address is its own), without duplicates.
async fn resolve(host: String, port: u16) -> Result<Vec<SocketAddr>, String> {
    let host = host.as_str();
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(address, port)]);
    }
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for address in tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| format!("cannot resolve {host}: {err}"))?
    {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addresses)
}

/// Whether `address` belongs to this machine: only a local address can be bound (the kernel's
/// own answer, so it covers every interface and any local route).
fn is_runner_address(address: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(address, 0)).is_ok()
}

#[cfg(test)]
mod tests;
