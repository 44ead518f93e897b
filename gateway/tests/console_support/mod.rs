//! What the console's HTTP tests share: a plain HTTP/1.1 client keeping one person's session
//! cookie, the pages it reads, and the suite's simulated cluster.
//!
//! Each test file uses part of it, hence `allow(dead_code)` where it is declared.

use bytes::Bytes;
use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, journey::Gateway};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// One answer: status, headers, body.
pub struct Page {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(http::header::LOCATION)
            .map_or("", |value| value.to_str().unwrap())
    }

    pub fn set_cookie(&self) -> Option<&str> {
        self.headers
            .get(http::header::SET_COOKIE)
            .map(|value| value.to_str().unwrap())
    }

    /// The value of the first `name` field after `marker` (e.g. a form's `action="..."`).
    pub fn field_after(&self, marker: &str, name: &str) -> String {
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker} in {}", self.body));
        let pattern = format!(r#"name="{name}" value=""#);
        let value_start = self.body[start..]
            .find(&pattern)
            .unwrap_or_else(|| panic!("no {name} after {marker} in {}", self.body))
            + start
            + pattern.len();
        let end = self.body[value_start..].find('"').unwrap() + value_start;
        self.body[value_start..end].to_owned()
    }

    /// The session's CSRF token: the first form's hidden `csrf` field (the same in every form).
    pub fn csrf(&self) -> String {
        self.field_after("<body", "csrf")
    }

    pub fn assert_contains(&self, texts: &[&str]) {
        for text in texts {
            assert!(self.body.contains(text), "{text}: {}", self.body);
        }
    }

    pub fn assert_lacks(&self, texts: &[&str]) {
        for text in texts {
            assert!(!self.body.contains(text), "{text}: {}", self.body);
        }
    }

    /// Checks the headers every console response carries.
    pub fn assert_secure_headers(&self) {
        assert_eq!(self.headers["content-security-policy"], CSP);
        assert_eq!(self.headers["x-content-type-options"], "nosniff");
        assert_eq!(self.headers["referrer-policy"], "same-origin");
    }
}

/// Where a POST says it comes from.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// The console's own page (an `Origin` naming the gateway).
    Console,
    /// A page of another site, by its `Origin`.
    Origin(&'a str),
    /// A browser's `Sec-Fetch-Site` header.
    FetchSite(&'a str),
    /// No header saying (not a browser).
    Nowhere,
}

/// A browser of one person: a plain HTTP/1.1 client and its session cookie.
pub struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    /// The gateway's address, `http://HOST:PORT`.
    pub base: String,
    /// The session cookie's value, as the browser keeps it.
    pub cookie: Option<String>,
}

impl Browser {
    /// A browser with no session yet, of the gateway at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.into(),
            cookie: None,
        }
    }

    /// A browser signed in with `token` through the form of the gateway at `base`.
    pub async fn signed_in(base: impl Into<String>, token: &str) -> Self {
        let mut browser = Self::new(base);
        let signed_in = browser.sign_in(token).await;
        assert_eq!(signed_in.status, http::StatusCode::SEE_OTHER);
        browser
    }

    /// A request for `path` carrying the session cookie.
    pub fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .version(http::Version::HTTP_11);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("eyrie_session={cookie}"));
        }
        request
    }

    /// Sends `request` with `body`, keeping the cookie the answer sets, and returns the answer
    /// as it is (a body being streamed stays unread).
    pub async fn respond(
        &mut self,
        request: http::request::Builder,
        body: String,
    ) -> http::Response<hyper::body::Incoming> {
        let response = self
            .client
            .request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        if let Some(set) = response.headers().get(http::header::SET_COOKIE) {
            let value = set
                .to_str()
                .unwrap()
                .strip_prefix("eyrie_session=")
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        response
    }

    /// Sends `request` with `body` and reads the whole answer.
    pub async fn send(&mut self, request: http::request::Builder, body: String) -> Page {
        let response = self.respond(request, body).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.request(http::Method::GET, path);
        self.send(request, String::new()).await
    }

    /// A form POST of `fields`, said to come from `via`.
    pub async fn post_via(&mut self, path: &str, fields: &[(&str, &str)], via: Via<'_>) -> Page {
        let mut request = self
            .request(http::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded");
        request = match via {
            Via::Console => request.header("origin", self.base.clone()),
            Via::Origin(origin) => request.header("origin", origin),
            Via::FetchSite(site) => request.header("sec-fetch-site", site),
            Via::Nowhere => request,
        };
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(request, body).await
    }

    /// A form POST from the console's own page.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_via(path, fields, Via::Console).await
    }

    /// Signs in with `token` through the form; the answer to the form's post.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/_eyrie/sign-in").await;
        assert_eq!(form.status, http::StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/_eyrie/sign-in",
            &[("csrf", &csrf), ("token", token), ("next", "/_eyrie/")],
        )
        .await
    }
}

/// Creates the simulated directory cluster `sim` ("Try-out") in project `acme` of `suite`.
pub async fn create_simulated_cluster(suite: &Suite, api: &mut Gateway) {
    let cluster = api.request(pb::CreateClusterRequest {
        parent: "projects/acme".into(),
        cluster_id: "sim".into(),
        cluster: Some(pb::Cluster {
            display_name: "Try-out".into(),
            connection: Some(pb::cluster::Connection::Directory(
                pb::DirectoryConnection {
                    path: suite.clusters_dir().join("sim").display().to_string(),
                    simulated: true,
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_cluster(cluster).await.unwrap();
}
