//! The connection to the gateway, and the API token every call carries.

use std::{path::PathBuf, time::Duration};

use eyrie_proto::v1::{
    book_service_client::BookServiceClient, deployment_service_client::DeploymentServiceClient,
    job_service_client::JobServiceClient, version_service_client::VersionServiceClient,
};
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use eyrie_platform::tls::ClientTlsSettings;

use super::error::CliError;

/// How long to wait for the gateway to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel whose every call carries `authorization: Bearer <token>`.
pub type Authorized = InterceptedService<Channel, BearerToken>;

/// An open connection to the gateway, handing out one client per public service.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    token: BearerToken,
}

impl Connection {
    /// Connects to `server` (`http://host:port`, `https://host:port` over TLS as `tls` says, or
    /// just `host:port`) with `token`, or with the admin token `eyrie up` keeps when none is given.
    pub async fn open(
        server: &str,
        token: Option<&str>,
        tls: &ClientTlsSettings,
    ) -> Result<Self, CliError> {
        let token = match token {
            Some(token) => token.trim().to_owned(),
            None => local_admin_token().ok_or_else(|| {
                CliError::Usage(
                    "no API token: pass --token or set EYRIE_TOKEN (`eyrie up` keeps its admin \
                     token in .eyrie/admin-token)"
                        .into(),
                )
            })?,
        };
        let token = BearerToken::new(&token)?;
        let url = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|err| CliError::Usage(format!("bad server address {server:?}: {err}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("eyrie/", env!("CARGO_PKG_VERSION")))
            .map_err(|err| CliError::Usage(err.to_string()))?;
        if url.starts_with("https://") {
            let config = tls
                .client_config()
                .map_err(|err| CliError::Usage(format!("{err:#}")))?;
            endpoint = endpoint
                .tls_config(config)
                .map_err(|err| CliError::Usage(format!("TLS: {}", chain(&err))))?;
        } else if tls.is_configured() {
            return Err(CliError::Usage(format!(
                "--ca-file, --cert-file and --key-file need an https:// server address, not {url}"
            )));
        }
        let channel = endpoint.connect().await.map_err(|err| {
            CliError::Unreachable(format!(
                "cannot reach the Eyrie server at {url}: {}",
                chain(&err)
            ))
        })?;
        Ok(Self { channel, token })
    }

    /// Projects, scopes, clusters, groups, deployments and their lifecycle.
    pub fn deployments(&self) -> DeploymentServiceClient<Authorized> {
        DeploymentServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// Deployment Books.
    pub fn books(&self) -> BookServiceClient<Authorized> {
        BookServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// Jobs and their events.
    pub fn jobs(&self) -> JobServiceClient<Authorized> {
        JobServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// Deployment versions.
    pub fn versions(&self) -> VersionServiceClient<Authorized> {
        VersionServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }
}

/// Adds the `authorization` header to each call.
#[derive(Clone)]
pub struct BearerToken(AsciiMetadataValue);

impl BearerToken {
    fn new(token: &str) -> Result<Self, CliError> {
        format!("Bearer {token}")
            .parse()
            .map(Self)
            .map_err(|_| CliError::Usage("the API token must be printable ASCII".into()))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The admin token of a local `eyrie up`, in its data directory (`EYRIE_DATA_DIR` or `.eyrie`).
fn local_admin_token() -> Option<String> {
    let data_dir =
        std::env::var_os("EYRIE_DATA_DIR").map_or_else(|| ".eyrie".into(), PathBuf::from);
    let token = std::fs::read_to_string(data_dir.join("admin-token")).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// An error with its sources, `outer: inner`, since transport errors hide the cause below.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
