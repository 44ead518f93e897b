//! The client commands: drive a running Eyrie through its gateway, as any gRPC client would.
//!
//! Data goes to stdout (text for people, `--output json` for scripts), messages and errors to
//! stderr. Exit codes: 0 success, 1 the watched job or operation failed, 2 usage, 3 server
//! unreachable, 4 the server refused the call (its message and code are printed).

mod books;
mod choices;
mod connection;
mod context_command;
mod contexts;
mod deployments;
mod error;
mod groups;
mod jobs;
mod lifecycle;
mod names;
mod output;
mod parameters;
mod progress;
mod projects;
mod versions;
mod watch;

use std::{future::Future, path::PathBuf, process::ExitCode};

use clap::{Args, Subcommand};
use eyrie_platform::tls::ClientTlsSettings;
use tonic::Status;

use self::{
    connection::{Connection, Given, Target},
    error::CliError,
    output::{Format, Output},
};

/// Where the gateway is, who is calling, and how to print.
#[derive(Debug, Args)]
pub struct ClientOptions {
    /// Context of the config file (`eyrie context`) to take the server, token and TLS files
    /// from (default: its current context). An option or its EYRIE_* variable wins over the
    /// context's value, which wins over the default.
    #[arg(long, global = true, env = "EYRIE_CONTEXT", value_name = "NAME")]
    context: Option<String>,
    /// Address of the Eyrie gateway; `https://...` reaches it over TLS (default: the context's
    /// server, else http://127.0.0.1:50051).
    #[arg(long, global = true, env = "EYRIE_SERVER")]
    server: Option<String>,
    /// API token (default: the context's token, else the admin token a local `eyrie up` keeps in
    /// `.eyrie/admin-token`).
    #[arg(long, global = true, env = "EYRIE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) the gateway's certificate must be signed by (default: the system's
    /// trusted roots); with an `https://` server only.
    #[arg(long, global = true, env = "EYRIE_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for a gateway that requires one; with `--key-file`.
    #[arg(long, global = true, env = "EYRIE_CERT_FILE", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "EYRIE_KEY_FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// Output format: `text` for people, `json` for scripts (one object per line when watching).
    #[arg(long, short, global = true, value_enum, default_value = "text")]
    output: Format,
}

/// A resource command: the options, then the verb.
#[derive(Debug, Args)]
pub struct Invocation<C: Subcommand> {
    #[command(flatten)]
    options: ClientOptions,
    #[command(subcommand)]
    command: C,
}

/// The client commands, one per kind of resource, and the contexts they run in.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Projects: create, list, get.
    #[command(visible_alias = "projects")]
    Project(Invocation<projects::ProjectCommand>),
    /// Scopes (environment tiers) of a project: create, list, get.
    #[command(visible_alias = "scopes")]
    Scope(Invocation<projects::ScopeCommand>),
    /// Clusters of a project: create, list, get.
    #[command(visible_alias = "clusters")]
    Cluster(Invocation<projects::ClusterCommand>),
    /// Deployment groups: create, list, get, update.
    #[command(visible_alias = "groups")]
    Group(Invocation<groups::GroupCommand>),
    /// Deployments: create, list, get, update, deploy, pause, drop, operations, versions, diff.
    #[command(visible_alias = "deployments")]
    Deployment(Invocation<deployments::DeploymentCommand>),
    /// Deployment Books: list, show, apply, validate, render.
    #[command(visible_alias = "books")]
    Book(Invocation<books::BookCommand>),
    /// Jobs: list, show, log, cancel, retry, watch.
    #[command(visible_alias = "jobs")]
    Job(Invocation<jobs::JobCommand>),
    /// Named contexts (a server and its credentials) in the config file: list, set, use, delete,
    /// current.
    #[command(visible_alias = "contexts", long_about = context_command::ABOUT)]
    Context(context_command::ContextInvocation),
}

/// What every command runs with.
pub struct Context {
    connection: Connection,
    output: Output,
}

/// Runs a client command; failures are reported on stderr and become the exit code.
pub async fn run(command: ClientCommand) -> ExitCode {
    match dispatch(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report();
            error.exit_code()
        }
    }
}

async fn dispatch(command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Project(Invocation { options, command }) => {
            projects::project(command, &context(options).await?).await
        }
        ClientCommand::Scope(Invocation { options, command }) => {
            projects::scope(command, &context(options).await?).await
        }
        ClientCommand::Cluster(Invocation { options, command }) => {
            projects::cluster(command, &context(options).await?).await
        }
        ClientCommand::Group(Invocation { options, command }) => {
            groups::run(command, &context(options).await?).await
        }
        ClientCommand::Deployment(Invocation { options, command }) => {
            deployments::run(command, &context(options).await?).await
        }
        ClientCommand::Book(Invocation { options, command }) => {
            books::run(command, &context(options).await?).await
        }
        ClientCommand::Job(Invocation { options, command }) => {
            jobs::run(command, &context(options).await?).await
        }
        ClientCommand::Context(invocation) => context_command::run(invocation),
    }
}

async fn context(options: ClientOptions) -> Result<Context, CliError> {
    let given = Given {
        context: options.context,
        server: options.server,
        token: options.token,
        tls: ClientTlsSettings {
            ca_file: options.ca_file,
            cert_file: options.cert_file,
            key_file: options.key_file,
        },
    };
    let config = match contexts::path_from(|name| std::env::var_os(name)) {
        Some(path) => Some(contexts::load(&path)?),
        None => None,
    };
    let connection = Target::resolve(given, config.as_ref())?.connect().await?;
    Ok(Context {
        connection,
        output: Output {
            format: options.output,
        },
    })
}

/// Collects every page of a List call; `fetch` gets a page token and returns the page's items and
/// the next token (empty after the last page).
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next_page_token) = fetch(page_token).await?;
        items.extend(page);
        if next_page_token.is_empty() {
            return Ok(items);
        }
        page_token = next_page_token;
    }
}
