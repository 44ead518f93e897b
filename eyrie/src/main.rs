//! The `eyrie` command: run the whole suite on one machine (`up`) or one service (`serve`), and
//! talk to a running suite (`project`, `deployment`, `job`, ...).

mod client;
mod up;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use eyrie_book_runner_svc::BookRunnerSvc;
use eyrie_deployment_svc::DeploymentSvc;
use eyrie_gateway::Gateway;
use eyrie_platform::standalone;
use eyrie_version_svc::VersionSvc;

/// Eyrie: a control plane for application instances on Kubernetes.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole suite in this process: three services and the gateway, each on its own
    /// loopback port, each with its own SQLite database under the data directory.
    Up(up::UpArgs),
    /// Runs one service alone, as in production.
    Serve {
        /// The service to run.
        service: ServiceName,
        /// Configuration file (TOML); `EYRIE_<SECTION>__<KEY>` variables override it.
        #[arg(long, short, env = "EYRIE_CONFIG")]
        config: Option<PathBuf>,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ServiceName {
    Deployment,
    BookRunner,
    Version,
    Gateway,
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Client(command) => return client::run(command).await,
        Command::Up(args) => up::run(args).await,
        Command::Serve { service, config } => {
            let config = config.as_deref();
            match service {
                ServiceName::Deployment => standalone::run::<DeploymentSvc>(config).await,
                ServiceName::BookRunner => standalone::run::<BookRunnerSvc>(config).await,
                ServiceName::Version => standalone::run::<VersionSvc>(config).await,
                ServiceName::Gateway => standalone::run::<Gateway>(config).await,
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // What `fn main() -> anyhow::Result<()>` printed: the error and its causes.
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}
