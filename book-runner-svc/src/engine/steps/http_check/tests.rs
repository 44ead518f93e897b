//! `http.check` against local servers: what it refuses to reach, and how it reaches the rest.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};

use super::*;

/// A bound for what must happen, so that a hang fails the test instead of stalling it.
const PATIENCE: Duration = Duration::from_secs(60);

fn arguments(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn allow(entries: &[&str]) -> Vec<AllowedHost> {
    entries.iter().map(|entry| entry.parse().unwrap()).collect()
}

/// A server on `address` answering each connection with the next of `answers` (status and extra
/// header lines), then 200; it keeps the head of every request it reads.
struct Server {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Server {
    async fn start(address: SocketAddr, answers: Vec<(u16, String)>) -> Self {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (kept, counted) = (requests.clone(), connections.clone());
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buffer = vec![0u8; 4096];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..read]).to_lowercase());
                let (status, headers) = answers.next().unwrap_or((200, String::new()));
                let response = format!(
                    "HTTP/1.1 {status} X\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        Self {
            address,
            requests,
            connections,
        }
    }

    fn loopback(answers: Vec<(u16, String)>) -> impl Future<Output = Self> {
        Self::start("127.0.0.1:0".parse().unwrap(), answers)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Runs a check of `url` and returns its result and what it said.
async fn check(
    url: &str,
    extra: &[(&str, &str)],
    allowed: &[AllowedHost],
) -> (Result<(), String>, Vec<String>) {
    let said = Mutex::new(Vec::new());
    let mut pairs = vec![("url", url)];
    pairs.extend_from_slice(extra);
    let say = |line: String| said.lock().unwrap().push(line);
    let result = tokio::time::timeout(PATIENCE, http_check(&arguments(&pairs), allowed, &say))
        .await
        .expect("the check ends");
    let said = said.into_inner().unwrap();
    (result, said)
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed_and_nothing_is_sent_to_it() {
    let server = Server::loopback(vec![]).await;
    let url = format!("http://{}/health", server.address);

    let (result, _) = check(&url, &[], &[]).await;
    let error = result.unwrap_err();
    assert_eq!(
        error,
        format!(
            "url {url:?}: host 127.0.0.1 is refused: it is loopback (127.0.0.0/8, ::1); the \
             runner's configuration (runner.http_check_allow) or the project's boundary (hosts, set by a global admin) must allow it"
        )
    );
    assert_eq!(server.connections(), 0, "nothing reached the server");

    // The same check, loopback allowed.
    let (result, said) = check(&url, &[], &allow(&["127.0.0.0/8"])).await;
    result.unwrap();
    assert_eq!(said.last().unwrap(), &format!("{url} answered 200"));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_name_is_refused_for_the_addresses_it_resolves_to() {
    let server = Server::loopback(vec![]).await;
    let url = format!("http://localhost:{}/", server.address.port());
    let (result, _) = check(&url, &[], &[]).await;
    let error = result.unwrap_err();
    assert!(
        error.contains("host localhost is refused: it resolves to ")
            && error.contains("which is loopback (127.0.0.0/8, ::1)"),
        "{error}"
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn link_local_ipv6_loopback_and_unspecified_addresses_are_refused() {
    // Refused before any connection is tried: none of these needs a server to fail at once.
    let cases = [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            "link-local",
        ),
        ("http://[fe80::1]:8080/", "[fe80::1]", "link-local"),
        ("http://[::1]:8080/", "[::1]", "loopback"),
        (
            "http://[::ffff:127.0.0.1]/",
            "[::ffff:127.0.0.1]",
            "loopback",
        ),
        ("http://0.0.0.0:8080/", "0.0.0.0", "unspecified"),
        ("http://[::]:8080/", "[::]", "unspecified"),
    ];
    for (url, host, rule) in cases {
        let (result, _) = check(url, &[], &[]).await;
        let error = result.unwrap_err();
        assert!(
            error.contains(&format!("host {host} is refused")) && error.contains(rule),
            "{url}: {error}"
        );
    }
    // Allowing one network allows nothing else.
    let (result, _) = check(
        "http://169.254.169.254/",
        &[],
        &allow(&["127.0.0.0/8", "::1"]),
    )
    .await;
    assert!(result.unwrap_err().contains("link-local"));
}

/// A non-loopback address of this machine: the one it would send from to a documentation
/// address (connecting a UDP socket sends nothing).
fn own_address() -> Option<IpAddr> {
    ["192.0.2.1:9", "[2001:db8::1]:9"]
        .iter()
        .find_map(|remote| {
            let remote: SocketAddr = remote.parse().ok()?;
            let local: SocketAddr = if remote.is_ipv4() {
                "0.0.0.0:0".parse().ok()?
            } else {
                "[::]:0".parse().ok()?
            };
            let socket = std::net::UdpSocket::bind(local).ok()?;
            socket.connect(remote).ok()?;
            let address = socket.local_addr().ok()?.ip();
            (!address.is_loopback() && !address.is_unspecified()).then_some(address)
        })
}

#[tokio::test]
async fn the_runners_own_addresses_are_refused_unless_allowed() {
    assert!(is_runner_address("127.0.0.1".parse().unwrap()));
    assert!(!is_runner_address("203.0.113.7".parse().unwrap()));
    let Some(own) = own_address() else {
        eprintln!("no non-loopback address on this machine: nothing more to check");
        return;
    };
    assert!(is_runner_address(own));
    let server = Server::start(SocketAddr::new(own, 0), vec![]).await;
    let url = format!("http://{}/", server.address);
    let (result, _) = check(&url, &[], &[]).await;
    let error = result.unwrap_err();
    assert!(
        error.contains("is refused: it is one of the runner's own addresses"),
        "{error}"
    );
    assert_eq!(server.connections(), 0);

    let (result, _) = check(&url, &[], &allow(&[&own.to_string()])).await;
    result.unwrap();
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn the_host_is_resolved_once_and_its_checked_address_is_the_one_connected_to() {
    // A resolver that answers with the server's (allowed) address first, and then with the
    // cloud metadata address, as a rebinding DNS server would.
    let server = Server::loopback(vec![(503, String::new()), (503, String::new())]).await;
    let port = server.address.port();
    let lookups = AtomicUsize::new(0);
    let rebinding = |host: String, port: u16| {
        let first = lookups.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            assert_eq!(host, "shop.example");
            let address: IpAddr = if first {
                "127.0.0.1".parse().unwrap()
            } else {
                "169.254.169.254".parse().unwrap()
            };
            Ok(vec![SocketAddr::new(address, port)])
        }
    };
    let url = format!("http://shop.example:{port}/health?x=1");
    let said = Mutex::new(Vec::new());
    let say = |line: String| said.lock().unwrap().push(line);
    let (arguments, loopback) = (arguments(&[("url", &url)]), allow(&["127.0.0.0/8"]));
    let checked = check_with(&arguments, &loopback, &say, rebinding);
    tokio::time::timeout(PATIENCE, checked)
        .await
        .expect("the check ends")
        .unwrap();
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "resolved once");
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        3,
        "503, 503, then 200, all from the checked address"
    );
    for request in &requests {
        assert!(request.starts_with("get /health?x=1 http/1.1"), "{request}");
        assert!(
            request.contains(&format!("host: shop.example:{port}\r\n")),
            "the URL's host travels in the Host header: {request}"
        );
    }
}

#[tokio::test]
async fn redirects_are_answers_and_never_followed() {
    // The redirect's target is a server of its own, which must never hear from the check.
    let elsewhere = Server::loopback(vec![]).await;
    let redirect = format!("location: http://{}/\r\n", elsewhere.address);
    let server = Server::loopback(vec![(302, redirect.clone()), (302, redirect)]).await;
    let url = format!("http://{}/", server.address);
    let loopback = allow(&["127.0.0.0/8"]);

    let (result, said) = check(&url, &[("expect_status", "302")], &loopback).await;
    result.unwrap();
    assert_eq!(said.last().unwrap(), &format!("{url} answered 302"));

    // Waiting for 200, the check sees the redirect as an answer and asks the same URL again.
    let (result, said) = check(&url, &[], &loopback).await;
    result.unwrap();
    assert!(said.contains(&format!("{url}: 302")), "{said:?}");
    assert_eq!(server.connections(), 3);
    assert_eq!(elsewhere.connections(), 0, "the redirect was not followed");
}
