//! Running one service as its own process: configuration file, telemetry, signals.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::Parser;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::{ServerSettings, TelemetrySettings, config, shutdown, telemetry};

/// What the process runner needs to know of a service.
pub trait Service {
    /// The service's name in logs, spans and `eyrie serve <name>`.
    const NAME: &'static str;
    /// Port used when the configuration names none.
    const DEFAULT_PORT: u16;
    /// The service's settings, loaded from defaults, file and environment.
    type Settings: DeserializeOwned + Send + 'static;

    /// How the service listens.
    fn server(settings: &Self::Settings) -> &ServerSettings;
    /// How the service logs and traces.
    fn telemetry(settings: &Self::Settings) -> &TelemetrySettings;
    /// Serves on `listener` until `shutdown` completes.
    fn run(
        settings: Self::Settings,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static;
}

/// Command line of a service binary.
#[derive(Debug, Parser)]
struct Args {
    /// Configuration file (TOML); `EYRIE_<SECTION>__<KEY>` variables override it.
    #[arg(long, short, env = "EYRIE_CONFIG")]
    config: Option<PathBuf>,
}

/// The whole `main` of a service binary: `<service> [--config FILE]`.
pub async fn main<S: Service>() -> anyhow::Result<()> {
    let args = Args::parse_from(std::env::args_os());
    run::<S>(args.config.as_deref()).await
}

/// Runs `S` alone until SIGTERM or Ctrl-C, configured by `config_file` and the environment.
///
/// Prints `<name> listening on http://<address>` (`https://` over TLS) on stdout once bound, so that scripts and tests that
/// asked for port 0 learn the real port.
pub async fn run<S: Service>(config_file: Option<&Path>) -> anyhow::Result<()> {
    let settings: S::Settings = config::load(config_file, None)
        .with_context(|| format!("cannot load the {} configuration", S::NAME))?;
    let guard = telemetry::init(S::NAME, S::telemetry(&settings))?;

    let address = S::server(&settings).listen_addr_or(S::DEFAULT_PORT);
    let listener = bind(address).await?;
    announce(
        S::NAME,
        S::server(&settings).scheme(),
        listener.local_addr()?,
    );

    let result = S::run(settings, listener, shutdown::signal()).await;
    if let Err(err) = &result {
        tracing::error!(
            error = format!("{err:#}"),
            "{} stopped with an error",
            S::NAME
        );
    }
    guard.shutdown();
    result
}

/// Binds `address`, naming it in the error.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// Prints the line that tells where a service listens: `<service> listening on <scheme>://<address>`.
pub fn announce(service: &str, scheme: &str, address: SocketAddr) {
    println!("{service} listening on {scheme}://{address}");
}
