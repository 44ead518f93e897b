//! The connection to the gateway, and the API token every call carries.
//!
//! Each setting (server, token, CA file, client certificate) is taken from, first to last: its
//! option or `EYRIE_*` variable, the context (named by `--context`/`EYRIE_CONTEXT`, else the
//! config file's `current_context`), the default (`http://127.0.0.1:50051`, the admin token of a
//! local `eyrie up`, no TLS files).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use eyrie_proto::v1::{
    book_service_client::BookServiceClient, deployment_service_client::DeploymentServiceClient,
    job_service_client::JobServiceClient, version_service_client::VersionServiceClient,
};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use eyrie_platform::tls::ClientTlsSettings;

use super::{contexts::Loaded, error::CliError};

/// How long to wait for the gateway to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway of a local `eyrie up`, when neither the command line nor a context names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// A channel whose every call carries `authorization: Bearer <token>`.
pub type Authorized = InterceptedService<Channel, BearerToken>;

/// What the command line says, an option or its `EYRIE_*` variable (clap reads both).
#[derive(Debug, Default)]
pub struct Given {
    /// `--context`.
    pub context: Option<String>,
    /// `--server`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--ca-file`, `--cert-file`, `--key-file`.
    pub tls: ClientTlsSettings,
}

/// Where the API token comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// `--token` or `EYRIE_TOKEN`.
    Given(String),
    /// A context's `token_file`.
    File(PathBuf),
    /// A context's `token`.
    Inline(SecretString),
    /// The admin token of a local `eyrie up`.
    LocalAdmin,
}

/// The gateway to call, and how.
#[derive(Debug)]
pub struct Target {
    /// Gateway address, as given.
    pub server: String,
    /// Where the API token comes from.
    pub token: TokenSource,
    /// CA file, client certificate and key.
    pub tls: ClientTlsSettings,
    /// The context the settings not given came from, for messages.
    pub context: Option<String>,
}

impl Target {
    /// Settles each setting: what is `given` first, then the context `given` names or the
    /// config file's current one, then the defaults. A context the file lacks is a usage error
    /// naming the known ones; `config` is `None` when there is no place for a config file.
    pub fn resolve(given: Given, config: Option<&Loaded>) -> Result<Self, CliError> {
        let selected = given
            .context
            .or_else(|| config.and_then(|loaded| loaded.file.current_context.clone()));
        let context = match (&selected, config) {
            (None, _) => None,
            (Some(name), Some(loaded)) => {
                Some(loaded.context(name)?.with_paths_from(loaded.base()))
            }
            (Some(name), None) => {
                return Err(CliError::Usage(format!(
                    "unknown context {name:?}: there is no config file (set HOME or {})",
                    super::contexts::CONFIG_VARIABLE
                )));
            }
        };
        let context = context.unwrap_or_default();
        let server = given
            .server
            .or_else(|| Some(context.server).filter(|server| !server.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = match (given.token, context.token_file, context.token) {
            (Some(token), _, _) => TokenSource::Given(token),
            (None, Some(path), _) => TokenSource::File(path),
            (None, None, Some(token)) => TokenSource::Inline(token),
            (None, None, None) => TokenSource::LocalAdmin,
        };
        // The certificate and its key go together: both from the command line, or both from the
        // context (clap makes each option require the other).
        let (cert_file, key_file) = if given.tls.cert_file.is_some() {
            (given.tls.cert_file, given.tls.key_file)
        } else {
            (context.cert_file, context.key_file)
        };
        let tls = ClientTlsSettings {
            ca_file: given.tls.ca_file.or(context.ca_file),
            cert_file,
            key_file,
        };
        Ok(Self {
            server,
            token,
            tls,
            context: selected,
        })
    }

    /// Connects to the target's server with its token.
    pub async fn connect(&self) -> Result<Connection, CliError> {
        let token = self.token()?;
        Connection::open(&self.server, token.as_deref(), &self.tls)
            .await
            .map_err(|err| self.annotate(err))
    }

    /// The API token; `None` for the admin token of a local `eyrie up`.
    fn token(&self) -> Result<Option<String>, CliError> {
        match &self.token {
            TokenSource::Given(token) => Ok(Some(token.clone())),
            TokenSource::Inline(token) => Ok(Some(token.expose_secret().to_owned())),
            TokenSource::File(path) => read_token_file(path)
                .map(Some)
                .map_err(|err| self.annotate(CliError::Usage(format!("token_file: {err}")))),
            TokenSource::LocalAdmin => Ok(None),
        }
    }

    /// `error` with the context it happened in, when one is in use: a setting the user did
    /// not type may be the cause.
    fn annotate(&self, error: CliError) -> CliError {
        let Some(name) = &self.context else {
            return error;
        };
        match error {
            CliError::Usage(message) => CliError::Usage(format!("{message} (context {name})")),
            CliError::Unreachable(message) => {
                CliError::Unreachable(format!("{message} (context {name})"))
            }
            other => other,
        }
    }
}

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
                    "no API token: pass --token, set EYRIE_TOKEN or use a context with a token \
                     (`eyrie up` keeps its admin token in .eyrie/admin-token)"
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
                "--ca-file, --cert-file and --key-file (or a context's ca_file, cert_file and \
                 key_file) need an https:// server address, not {url}"
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
    /// The header for `token`, which must be printable ASCII.
    pub fn new(token: &str) -> Result<Self, CliError> {
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

/// The trimmed contents of a token file, which must not be empty.
fn read_token_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let token =
        std::fs::read_to_string(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(token.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::contexts::{ConfigFile, ContextEntry};

    /// A config file at `/home/me/.config/eyrie/config.toml` with contexts `prod` (current, a
    /// token file and a CA) and `dev` (an inline token).
    fn config() -> Loaded {
        let mut file = ConfigFile {
            current_context: Some("prod".into()),
            ..Default::default()
        };
        file.contexts.insert(
            "prod".into(),
            ContextEntry {
                server: "https://prod.example.com".into(),
                token_file: Some("prod.token".into()),
                ca_file: Some("/etc/prod-ca.pem".into()),
                cert_file: Some("me.pem".into()),
                key_file: Some("me.key".into()),
                ..Default::default()
            },
        );
        file.contexts.insert(
            "dev".into(),
            ContextEntry {
                server: "http://dev:50051".into(),
                token: Some("dev-token".into()),
                ..Default::default()
            },
        );
        Loaded {
            path: "/home/me/.config/eyrie/config.toml".into(),
            file,
        }
    }

    fn usage_message(result: Result<Target, CliError>) -> String {
        match result {
            Err(CliError::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn without_a_config_file_or_options_the_local_defaults_apply() {
        let target = Target::resolve(Given::default(), None).unwrap();
        assert_eq!(target.server, DEFAULT_SERVER);
        assert!(matches!(target.token, TokenSource::LocalAdmin));
        assert!(!target.tls.is_configured());
        assert_eq!(target.context, None);

        let empty = Loaded {
            path: "/nowhere/config.toml".into(),
            file: ConfigFile::default(),
        };
        let target = Target::resolve(Given::default(), Some(&empty)).unwrap();
        assert_eq!(target.server, DEFAULT_SERVER);
    }

    #[test]
    fn the_current_context_gives_what_the_command_line_does_not() {
        let config = config();
        let target = Target::resolve(Given::default(), Some(&config)).unwrap();
        assert_eq!(target.context.as_deref(), Some("prod"));
        assert_eq!(target.server, "https://prod.example.com");
        // Relative paths are taken from the config file's directory.
        let TokenSource::File(path) = &target.token else {
            panic!("a token file");
        };
        assert_eq!(path, Path::new("/home/me/.config/eyrie/prod.token"));
        assert_eq!(
            target.tls.ca_file.as_deref(),
            Some(Path::new("/etc/prod-ca.pem"))
        );
        assert_eq!(
            target.tls.cert_file.as_deref(),
            Some(Path::new("/home/me/.config/eyrie/me.pem"))
        );
    }

    #[test]
    fn options_and_variables_win_over_the_context_setting_by_setting() {
        let config = config();
        let given = Given {
            server: Some("https://localhost:8443".into()),
            tls: ClientTlsSettings {
                ca_file: Some("/tmp/other-ca.pem".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let target = Target::resolve(given, Some(&config)).unwrap();
        assert_eq!(target.server, "https://localhost:8443");
        assert!(matches!(target.token, TokenSource::File(_)));
        assert_eq!(
            target.tls.ca_file.as_deref(),
            Some(Path::new("/tmp/other-ca.pem"))
        );
        assert!(target.tls.cert_file.is_some());

        // A certificate given replaces the context's certificate and key together.
        let given = Given {
            token: Some("typed".into()),
            tls: ClientTlsSettings {
                cert_file: Some("/tmp/c.pem".into()),
                key_file: Some("/tmp/c.key".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let target = Target::resolve(given, Some(&config)).unwrap();
        assert!(matches!(&target.token, TokenSource::Given(token) if token == "typed"));
        assert_eq!(
            target.tls.key_file.as_deref(),
            Some(Path::new("/tmp/c.key"))
        );
    }

    #[test]
    fn a_named_context_wins_over_the_current_one() {
        let config = config();
        let given = Given {
            context: Some("dev".into()),
            ..Default::default()
        };
        let target = Target::resolve(given, Some(&config)).unwrap();
        assert_eq!(target.server, "http://dev:50051");
        assert!(
            matches!(&target.token, TokenSource::Inline(token) if token.expose_secret() == "dev-token")
        );
        assert!(!target.tls.is_configured());
    }

    #[test]
    fn an_unknown_context_is_a_usage_error_naming_the_known_ones() {
        let config = config();
        let given = Given {
            context: Some("staging".into()),
            ..Default::default()
        };
        let message = usage_message(Target::resolve(given, Some(&config)));
        assert!(message.contains("\"staging\""), "{message}");
        assert!(message.contains("dev, prod"), "{message}");

        // A current context the file lacks (edited by hand) is refused the same way.
        let mut dangling = config;
        dangling.file.current_context = Some("gone".into());
        let message = usage_message(Target::resolve(Given::default(), Some(&dangling)));
        assert!(message.contains("\"gone\""), "{message}");

        let given = Given {
            context: Some("prod".into()),
            ..Default::default()
        };
        let message = usage_message(Target::resolve(given, None));
        assert!(message.contains("no config file"), "{message}");
    }

    #[test]
    fn errors_name_the_context_they_happened_in() {
        let config = config();
        let target = Target::resolve(Given::default(), Some(&config)).unwrap();
        let CliError::Usage(message) = target.token().unwrap_err() else {
            panic!("a usage error");
        };
        assert!(
            message.contains("/home/me/.config/eyrie/prod.token"),
            "{message}"
        );
        assert!(message.ends_with("(context prod)"), "{message}");
    }
}
