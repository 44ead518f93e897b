//! Running the `eyrie` client command against a running suite, as a user or a CI script would.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::process::Command;

use crate::binary;

/// Longest a single client command may take (a watched deploy included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The `eyrie` binary pointed at one gateway with one token.
pub struct EyrieCli {
    server: String,
    token: String,
}

/// What one run of the command did.
#[derive(Debug)]
pub struct CliRun {
    /// The command line, for failure messages.
    pub args: Vec<String>,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything written on stdout.
    pub stdout: String,
    /// Everything written on stderr.
    pub stderr: String,
}

impl EyrieCli {
    /// Talks to the gateway at `server` (`http://...`) with `token`.
    pub fn new(server: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            token: token.into(),
        }
    }

    /// Runs `eyrie <args>` with the server and token in `EYRIE_SERVER`/`EYRIE_TOKEN`, in a pipe
    /// (so output is plain lines, never a spinner).
    ///
    /// # Panics
    /// When the command cannot start or runs longer than two minutes.
    pub async fn run(&self, args: &[&str]) -> CliRun {
        self.run_from(None, args).await
    }

    /// Runs `eyrie <args>` as [`Self::run`] does, from directory `dir`: what relative paths on
    /// the command line are taken from.
    ///
    /// # Panics
    /// When the command cannot start or runs longer than two minutes.
    pub async fn run_in(&self, dir: &Path, args: &[&str]) -> CliRun {
        self.run_from(Some(dir), args).await
    }

    async fn run_from(&self, dir: Option<&Path>, args: &[&str]) -> CliRun {
        let mut command = Command::new(binary("eyrie"));
        command.args(args).stdin(Stdio::null()).kill_on_drop(true);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        // A developer's own EYRIE_* settings must not leak into a test.
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EYRIE_")) {
            command.env_remove(key);
        }
        command
            .env("EYRIE_SERVER", &self.server)
            .env("EYRIE_TOKEN", &self.token)
            // Nor a developer's own contexts file.
            .env("EYRIE_CLIENT_CONFIG", "/nonexistent/eyrie-contexts.toml")
            .env("NO_COLOR", "1");
        let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("eyrie {args:?} ran longer than {COMMAND_TIMEOUT:?}"))
            .expect("the eyrie binary starts");
        CliRun {
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `eyrie <args>` and asserts it exits with 0.
    pub async fn ok(&self, args: &[&str]) -> CliRun {
        let run = self.run(args).await;
        run.assert_code(0);
        run
    }
}

impl CliRun {
    /// Asserts the exit code, showing the whole run when it differs.
    pub fn assert_code(&self, expected: i32) {
        assert_eq!(self.code, Some(expected), "unexpected exit code\n{self}");
    }

    /// Stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err})\n{self}"))
    }

    /// Stdout as JSON lines, each one object.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("line {line:?} is not JSON ({err})\n{self}"))
            })
            .collect()
    }
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "eyrie {}\nexit code: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}
