//! `eyrie context`: the named contexts of the config file, and which one is current. None of
//! these commands calls the gateway, and none prints a token.

use std::{
    io::{IsTerminal as _, Read as _},
    path::{Path, PathBuf},
};

use clap::{ArgGroup, Args, Subcommand};
use secrecy::SecretString;

use super::{
    connection::BearerToken,
    contexts::{self, ConfigFile, ContextEntry, Loaded},
    error::CliError,
    output::{Format, outln, print_table},
};

/// `eyrie context --help`.
pub const ABOUT: &str = "Named contexts: a gateway and the credentials to call it with, kept in \
the config file ($EYRIE_CLIENT_CONFIG, else $XDG_CONFIG_HOME/eyrie/config.toml, else \
~/.config/eyrie/config.toml).

A command uses the context named by --context or EYRIE_CONTEXT, else the file's current context \
(`eyrie context use`). Each setting is taken from its option or EYRIE_* variable first, then the \
context, then the default (http://127.0.0.1:50051 and the admin token of a local `eyrie up`).

Prefer --token-file: the config file then holds no secret. A token given with --token-stdin is \
kept in the config file, which is written with mode 0600; a config file other users may change, \
or read while it holds a token, is refused until `chmod 600`. Writing the file rewrites it: \
comments are not kept.";

/// The `context` command and its output option.
#[derive(Debug, Args)]
pub struct ContextInvocation {
    /// Output format: `text` for people, `json` for scripts.
    #[arg(long, short, global = true, value_enum, default_value = "text")]
    output: Format,
    #[command(subcommand)]
    command: ContextCommand,
}

/// The verbs on contexts.
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Lists the contexts, the current one marked with `*` (never showing a token).
    #[command(visible_alias = "ls")]
    List,
    /// Creates a context, or changes the settings given of an existing one.
    Set(SetArgs),
    /// Makes a context the current one: what commands use without --context.
    Use {
        /// The context's name.
        name: String,
    },
    /// Deletes a context (a token file it names is left alone).
    #[command(visible_alias = "rm")]
    Delete {
        /// The context's name.
        name: String,
    },
    /// Prints the name of the context commands use without --context.
    Current,
}

/// Options of `eyrie context set`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("token_source").args(["token_file", "token_stdin"])))]
pub struct SetArgs {
    /// The context's name: letters, digits, `-`, `_` and `.`.
    #[arg(value_parser = context_name)]
    name: String,
    /// Gateway address, `http://host:port`, or `https://host:port` over TLS (needed for a new
    /// context).
    #[arg(long, value_name = "URL", value_parser = server_url)]
    server: Option<String>,
    /// A file holding the API token; the context keeps its path, never the token.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Reads the API token from stdin (asked for without echo on a terminal) and keeps it in the
    /// config file; never on the command line, where shell history and `ps` would show it.
    #[arg(long)]
    token_stdin: bool,
    /// CA certificate (PEM) the gateway's certificate must be signed by; https only.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM); with `--key-file`.
    #[arg(long, value_name = "PATH", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PATH", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// Also make it the current context.
    #[arg(long = "use")]
    make_current: bool,
}

/// Runs a `context` command.
pub fn run(invocation: ContextInvocation) -> Result<(), CliError> {
    let path = contexts::path()?;
    let mut loaded = contexts::load(&path)?;
    match invocation.command {
        ContextCommand::List => list(&loaded, invocation.output),
        ContextCommand::Current => current(&loaded),
        ContextCommand::Set(args) => set(&mut loaded, args),
        ContextCommand::Use { name } => {
            loaded.context(&name)?;
            loaded.file.current_context = Some(name.clone());
            contexts::save(&loaded.path, &loaded.file)?;
            eprintln!("now using context {name:?}");
            if let Some(selected) = selected_by_variable().filter(|selected| *selected != name) {
                eprintln!("note: EYRIE_CONTEXT={selected} still wins where it is set");
            }
            Ok(())
        }
        ContextCommand::Delete { name } => {
            loaded.context(&name)?;
            loaded.file.contexts.remove(&name);
            let was_current = loaded.file.current_context.as_deref() == Some(name.as_str());
            if was_current {
                loaded.file.current_context = None;
            }
            contexts::save(&loaded.path, &loaded.file)?;
            eprintln!("context {name:?} deleted");
            if was_current {
                eprintln!("no context is current now: `eyrie context use NAME` picks one");
            }
            Ok(())
        }
    }
}

/// `EYRIE_CONTEXT`, when set: it wins over the file's current context.
fn selected_by_variable() -> Option<String> {
    std::env::var("EYRIE_CONTEXT")
        .ok()
        .filter(|name| !name.is_empty())
}

/// The context commands use without --context: `EYRIE_CONTEXT`, else the file's current one.
fn effective_current(file: &ConfigFile) -> Option<String> {
    selected_by_variable().or_else(|| file.current_context.clone())
}

fn list(loaded: &Loaded, format: Format) -> Result<(), CliError> {
    let current = effective_current(&loaded.file);
    let is_current = |name: &str| current.as_deref() == Some(name);
    match format {
        Format::Json => {
            let items: Vec<_> = loaded
                .file
                .contexts
                .iter()
                .map(|(name, context)| {
                    serde_json::json!({
                        "name": name,
                        "current": is_current(name),
                        "server": context.server,
                        "token": token_kind(context),
                        "token_file": context.token_file,
                        "ca_file": context.ca_file,
                        "cert_file": context.cert_file,
                        "key_file": context.key_file,
                    })
                })
                .collect();
            outln!("{:#}", serde_json::Value::Array(items));
        }
        Format::Text => {
            let rows: Vec<_> = loaded
                .file
                .contexts
                .iter()
                .map(|(name, context)| {
                    let token = match &context.token_file {
                        Some(path) => path.display().to_string(),
                        None => token_kind(context).to_owned(),
                    };
                    vec![
                        if is_current(name) { "*" } else { "" }.to_owned(),
                        name.clone(),
                        context.server.clone(),
                        token,
                    ]
                })
                .collect();
            if rows.is_empty() {
                eprintln!(
                    "no contexts in {}: add one with `eyrie context set NAME --server URL`",
                    loaded.path.display()
                );
                return Ok(());
            }
            print_table(&["CURRENT", "NAME", "SERVER", "TOKEN"], &rows);
        }
    }
    Ok(())
}

/// Where a context's token is, in one word: `file`, `inline` or `none`.
fn token_kind(context: &ContextEntry) -> &'static str {
    match (&context.token_file, &context.token) {
        (Some(_), _) => "file",
        (None, Some(_)) => "inline",
        (None, None) => "none",
    }
}

fn current(loaded: &Loaded) -> Result<(), CliError> {
    let Some(name) = effective_current(&loaded.file) else {
        eprintln!(
            "no current context: commands use --server or EYRIE_SERVER, else {}",
            super::connection::DEFAULT_SERVER
        );
        return Ok(());
    };
    loaded.context(&name)?;
    outln!("{name}");
    Ok(())
}

fn set(loaded: &mut Loaded, args: SetArgs) -> Result<(), CliError> {
    let existing = loaded.file.contexts.get(&args.name).cloned();
    let created = existing.is_none();
    let mut context = match (existing, &args.server) {
        (Some(context), _) => context,
        (None, Some(_)) => ContextEntry::default(),
        (None, None) => {
            return Err(CliError::Usage(format!(
                "context {:?} is new: give its --server",
                args.name
            )));
        }
    };
    if let Some(server) = args.server {
        context.server = server;
    }
    if let Some(token_file) = args.token_file {
        let token_file = absolute(&token_file, "--token-file")?;
        if !token_file.exists() {
            eprintln!(
                "warning: {} does not exist (yet): commands will fail until it does",
                token_file.display()
            );
        }
        context.token_file = Some(token_file);
        context.token = None;
    }
    if args.token_stdin {
        context.token = Some(read_token(&args.name)?);
        context.token_file = None;
    }
    if let Some(ca_file) = args.ca_file {
        context.ca_file = Some(absolute(&ca_file, "--ca-file")?);
    }
    if let (Some(cert_file), Some(key_file)) = (args.cert_file, args.key_file) {
        context.cert_file = Some(absolute(&cert_file, "--cert-file")?);
        context.key_file = Some(absolute(&key_file, "--key-file")?);
    }
    let has_tls_files =
        context.ca_file.is_some() || context.cert_file.is_some() || context.key_file.is_some();
    if has_tls_files && !context.server.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "ca_file, cert_file and key_file need an https:// server, not {}",
            context.server
        )));
    }
    let name = args.name;
    loaded.file.contexts.insert(name.clone(), context);
    if args.make_current {
        loaded.file.current_context = Some(name.clone());
    }
    contexts::save(&loaded.path, &loaded.file)?;
    let verb = if created { "created" } else { "updated" };
    let current = if args.make_current {
        ", and is the current context"
    } else {
        ""
    };
    eprintln!(
        "context {name:?} {verb} in {}{current}",
        loaded.path.display()
    );
    Ok(())
}

/// A new context's name, checked before it is written.
fn context_name(input: &str) -> Result<String, String> {
    contexts::check_name(input).map(|()| input.to_owned())
}

/// `http://host:port` or `https://host:port`; `host:port` means `http://host:port`.
fn server_url(input: &str) -> Result<String, String> {
    let url = if input.contains("://") {
        input.to_owned()
    } else {
        format!("http://{input}")
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("use an http:// or https:// address".into());
    }
    let uri: tonic::codegen::http::Uri = url.parse().map_err(|err| format!("{err}"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err("the address needs a host".into());
    }
    if uri
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        return Err("put credentials in --token-file or --token-stdin, not in the address".into());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `path` from the current directory, so the context works from any directory.
fn absolute(path: &Path, option: &str) -> Result<PathBuf, CliError> {
    std::path::absolute(path)
        .map_err(|err| CliError::Usage(format!("{option} {}: {err}", path.display())))
}

/// The token on stdin: asked for without echo on a terminal, else read to the end.
fn read_token(context: &str) -> Result<SecretString, CliError> {
    let fail = |err: std::io::Error| CliError::Usage(format!("cannot read the token: {err}"));
    let text = if std::io::stdin().is_terminal() {
        eprint!("API token for context {context:?}: ");
        console::Term::stderr().read_secure_line().map_err(fail)?
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(fail)?;
        text
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::Usage("--token-stdin: the token is empty".into()));
    }
    BearerToken::new(token)?;
    Ok(SecretString::from(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_get_a_scheme_and_refuse_credentials() {
        assert_eq!(server_url("eyrie:443").unwrap(), "http://eyrie:443");
        assert_eq!(
            server_url("https://eyrie.example.com/").unwrap(),
            "https://eyrie.example.com"
        );
        assert!(server_url("ftp://eyrie").is_err());
        assert!(server_url("http://").is_err());
        assert!(server_url("https://me:secret@eyrie").is_err());
        assert!(server_url("http://a b").is_err());
    }
}
