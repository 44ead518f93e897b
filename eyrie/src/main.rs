//! The `eyrie` command: run the whole suite on one machine (`up`) or one service (`serve`), and
//! talk to a running suite (`project`, `deployment`, `job`, ...).

mod client;
mod up;

use std::{path::PathBuf, process::ExitCode};

use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
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
    /// Prints the shell completion script, e.g. `source <(eyrie completion bash)`.
    Completion {
        /// The shell the script is for.
        shell: Shell,
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
        Command::Completion { shell } => return print_completion(shell),
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

/// The completion script of `shell` for this command line.
fn completion(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "eyrie", &mut script);
    script
}

fn print_completion(shell: Shell) -> ExitCode {
    use std::io::Write as _;
    // A reader that stops early (`| head`) is not a failure.
    match std::io::stdout().lock().write_all(&completion(shell)) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bash_script_completes_the_subcommands() {
        let script = String::from_utf8(completion(Shell::Bash)).unwrap();
        assert!(script.contains("_eyrie"));
        for subcommand in [
            "up",
            "serve",
            "deployment",
            "group",
            "book",
            "job",
            "context",
            "completion",
        ] {
            assert!(script.contains(subcommand), "no {subcommand}");
        }
    }

    #[test]
    fn zsh_and_fish_get_scripts_too() {
        for shell in [Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completion(shell)).unwrap();
            assert!(script.contains("deployment"), "{shell}");
        }
    }
}
