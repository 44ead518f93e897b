//! The `eyrie` binary with named contexts: `eyrie context ...` writes the config file, and client
//! commands take their server and token from it unless told otherwise. No server runs: which
//! server a command chose shows in its "cannot reach" error (exit code 3), aimed at ports where
//! nothing listens.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// A home directory of its own, and the `eyrie` binary run in it.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// What one run printed, and its exit code.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, Some(expected), "unexpected exit code: {self:#?}");
        self
    }
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Where `eyrie` finds its config file here: the XDG default under the sandbox's HOME.
    fn config_file(&self) -> PathBuf {
        self.dir.path().join("home/.config/eyrie/config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_eyrie"));
        command.args(args).current_dir(self.dir.path());
        // Neither the developer's EYRIE_* settings nor their config file may leak in.
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EYRIE_")) {
            command.env_remove(key);
        }
        command
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", self.dir.path().join("home"))
            .env("EYRIE_DATA_DIR", self.dir.path().join("no-local-suite"))
            .env("NO_COLOR", "1");
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    /// Runs `eyrie args` with the variables `env` and `stdin` as its input.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the eyrie binary starts");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().unwrap();
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// A token file in the sandbox.
    fn token_file(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, token).unwrap();
        path
    }
}

/// `N` different addresses where nothing listens: loopback ports held, not listening, until the
/// test's process ends, so that no other process can start listening there meanwhile.
fn closed_servers<const N: usize>() -> [String; N] {
    std::array::from_fn(|_| {
        let port = eyrie_platform::testing::ClosedPort::hold().unwrap();
        let url = port.url();
        // Held for the rest of the process (one test under nextest).
        std::mem::forget(port);
        url
    })
}

fn closed_server() -> String {
    let [server] = closed_servers();
    server
}

/// Asserts the run tried `server` and found nobody there.
fn assert_tried(run: &Run, server: &str) {
    run.assert_code(3);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the Eyrie server at {server}")),
        "{run:#?}"
    );
}

/// Two contexts: `alpha` (current, token in a file) and `beta` (token given on stdin); their
/// servers, and a third one neither names.
fn two_contexts(sandbox: &Sandbox) -> [String; 3] {
    let [alpha, beta, elsewhere] = closed_servers();
    let token_file = sandbox.token_file("alpha.token", "alpha-token\n");
    sandbox
        .run(&[
            "context",
            "set",
            "alpha",
            "--server",
            &alpha,
            "--token-file",
            token_file.to_str().unwrap(),
            "--use",
        ])
        .assert_code(0);
    sandbox
        .run_with(
            &["context", "set", "beta", "--server", &beta, "--token-stdin"],
            &[],
            Some("beta-secret-token\n"),
        )
        .assert_code(0);
    [alpha, beta, elsewhere]
}

#[test]
fn context_set_writes_a_private_file_that_list_use_and_current_read() {
    let sandbox = Sandbox::new();
    two_contexts(&sandbox);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sandbox.config_file()), 0o600);
        assert_eq!(mode(sandbox.config_file().parent().unwrap()), 0o700);
    }

    let list = sandbox.run(&["context", "list"]);
    list.assert_code(0);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("CURRENT"), "{list:#?}");
    assert!(
        lines[1].starts_with('*') && lines[1].contains("alpha"),
        "{list:#?}"
    );
    assert!(
        !lines[2].starts_with('*') && lines[2].contains("beta") && lines[2].contains("inline"),
        "{list:#?}"
    );
    assert!(!list.stdout.contains("beta-secret-token"), "{list:#?}");

    let json = sandbox.run(&["context", "list", "-o", "json"]);
    json.assert_code(0);
    assert!(!json.stdout.contains("beta-secret-token"), "{json:#?}");
    let contexts: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(contexts[0]["name"], "alpha");
    assert_eq!(contexts[0]["current"], true);
    assert_eq!(contexts[1]["token"], "inline");

    let current = sandbox.run(&["context", "current"]);
    assert_eq!(current.assert_code(0).stdout, "alpha\n");
    sandbox.run(&["context", "use", "beta"]).assert_code(0);
    assert_eq!(sandbox.run(&["context", "current"]).stdout, "beta\n");
    let by_variable =
        sandbox.run_with(&["context", "current"], &[("EYRIE_CONTEXT", "alpha")], None);
    assert_eq!(by_variable.stdout, "alpha\n");

    // Deleting the current context leaves none current.
    sandbox.run(&["context", "delete", "beta"]).assert_code(0);
    let current = sandbox.run(&["context", "current"]);
    assert_eq!(current.assert_code(0).stdout, "");
    assert!(
        current.stderr.contains("no current context"),
        "{current:#?}"
    );
    let list = sandbox.run(&["context", "list"]);
    assert!(!list.stdout.contains("beta"), "{list:#?}");
}

#[test]
fn commands_take_the_current_context_unless_another_is_named() {
    let sandbox = Sandbox::new();
    let [alpha, beta, _] = two_contexts(&sandbox);

    let current = sandbox.run(&["project", "list"]);
    assert_tried(&current, &alpha);
    assert!(current.stderr.contains("(context alpha)"), "{current:#?}");
    assert_tried(
        &sandbox.run(&["project", "list", "--context", "beta"]),
        &beta,
    );
    let by_variable = sandbox.run_with(&["project", "list"], &[("EYRIE_CONTEXT", "beta")], None);
    assert_tried(&by_variable, &beta);
    // The option wins over the variable, as everywhere.
    let both = sandbox.run_with(
        &["project", "list", "--context", "alpha"],
        &[("EYRIE_CONTEXT", "beta")],
        None,
    );
    assert_tried(&both, &alpha);
}

#[test]
fn the_server_option_and_variable_win_over_the_contexts_server() {
    let sandbox = Sandbox::new();
    let [_, _, elsewhere] = two_contexts(&sandbox);

    let option = sandbox.run(&["project", "list", "--server", &elsewhere]);
    assert_tried(&option, &elsewhere);
    let variable = sandbox.run_with(&["project", "list"], &[("EYRIE_SERVER", &elsewhere)], None);
    assert_tried(&variable, &elsewhere);
    let named = sandbox.run(&[
        "project",
        "list",
        "--context",
        "beta",
        "--server",
        &elsewhere,
    ]);
    assert_tried(&named, &elsewhere);
}

#[test]
fn the_contexts_token_is_read_and_an_unreadable_token_file_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let [alpha, ..] = two_contexts(&sandbox);
    std::fs::remove_file(sandbox.dir.path().join("alpha.token")).unwrap();

    let missing = sandbox.run(&["project", "list"]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("alpha.token") && missing.stderr.contains("(context alpha)"),
        "{missing:#?}"
    );
    // A token given wins over the context's, and the context's server stays.
    assert_tried(
        &sandbox.run(&["project", "list", "--token", "typed"]),
        &alpha,
    );
}

#[test]
fn an_unknown_context_is_a_usage_error_naming_the_known_ones() {
    let sandbox = Sandbox::new();
    two_contexts(&sandbox);

    for args in [
        &["project", "list", "--context", "gamma"][..],
        &["context", "use", "gamma"],
        &["context", "delete", "gamma"],
    ] {
        let run = sandbox.run(args);
        run.assert_code(2);
        assert!(
            run.stderr.contains("unknown context \"gamma\"") && run.stderr.contains("alpha, beta"),
            "{args:?}: {run:#?}"
        );
    }
    let by_variable = sandbox.run_with(&["project", "list"], &[("EYRIE_CONTEXT", "gamma")], None);
    by_variable.assert_code(2);
    assert!(
        by_variable.stderr.contains("alpha, beta"),
        "{by_variable:#?}"
    );
}

#[test]
fn without_a_config_file_the_local_defaults_still_apply() {
    let sandbox = Sandbox::new();
    // No context, no token given, no local suite: the old message, and no config file made.
    let no_token = sandbox.run(&["project", "list"]);
    no_token.assert_code(2);
    assert!(no_token.stderr.contains("no API token"), "{no_token:#?}");
    assert!(!sandbox.config_file().exists());

    // The admin token of a local `eyrie up` is still found in its data directory.
    let data_dir = sandbox.dir.path().join("suite");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(data_dir.join("admin-token"), "local-admin\n").unwrap();
    let server = closed_server();
    let local = sandbox.run_with(
        &["project", "list", "--server", &server],
        &[("EYRIE_DATA_DIR", data_dir.to_str().unwrap())],
        None,
    );
    assert_tried(&local, &server);

    let named = sandbox.run(&["project", "list", "--context", "prod"]);
    named.assert_code(2);
    assert!(named.stderr.contains("defines no contexts"), "{named:#?}");
}

#[test]
fn eyrie_client_config_names_another_file() {
    let sandbox = Sandbox::new();
    let other = sandbox.dir.path().join("elsewhere/eyrie.toml");
    let server = closed_server();
    let variable = [("EYRIE_CLIENT_CONFIG", other.to_str().unwrap())];
    let set = sandbox.run_with(
        &[
            "context",
            "set",
            "ci",
            "--server",
            &server,
            "--token-stdin",
            "--use",
        ],
        &variable,
        Some("ci-token"),
    );
    set.assert_code(0);
    assert!(other.exists() && !sandbox.config_file().exists());
    assert_tried(
        &sandbox.run_with(&["project", "list"], &variable, None),
        &server,
    );
    // Without the variable, the default file (absent) has no such context.
    sandbox
        .run(&["project", "list", "--context", "ci"])
        .assert_code(2);
}

#[test]
fn set_refuses_what_would_not_work() {
    let sandbox = Sandbox::new();
    // A new context needs its server.
    let no_server = sandbox.run(&["context", "set", "alpha"]);
    no_server.assert_code(2);
    assert!(no_server.stderr.contains("--server"), "{no_server:#?}");
    // A name that would read as an option, or holds a path.
    sandbox
        .run(&["context", "set", "a/b", "--server", "http://x:1"])
        .assert_code(2);
    // One token source at a time; an empty token; TLS files over plaintext.
    sandbox
        .run(&[
            "context",
            "set",
            "alpha",
            "--server",
            "http://x:1",
            "--token-file",
            "t",
            "--token-stdin",
        ])
        .assert_code(2);
    let empty = sandbox.run_with(
        &[
            "context",
            "set",
            "alpha",
            "--server",
            "http://x:1",
            "--token-stdin",
        ],
        &[],
        Some("  \n"),
    );
    empty.assert_code(2);
    let plaintext = sandbox.run(&[
        "context",
        "set",
        "alpha",
        "--server",
        "http://x:1",
        "--ca-file",
        "ca.pem",
    ]);
    plaintext.assert_code(2);
    assert!(plaintext.stderr.contains("https://"), "{plaintext:#?}");
    assert!(!sandbox.config_file().exists());
}

#[test]
fn set_changes_only_the_settings_given() {
    let sandbox = Sandbox::new();
    let [_, beta, _] = two_contexts(&sandbox);
    let token_file = sandbox.token_file("beta.token", "beta-file-token");
    sandbox
        .run(&[
            "context",
            "set",
            "beta",
            "--token-file",
            token_file.to_str().unwrap(),
        ])
        .assert_code(0);
    let text = std::fs::read_to_string(sandbox.config_file()).unwrap();
    // The file token replaced the inline one; the server stayed.
    assert!(!text.contains("beta-secret-token"), "{text}");
    assert!(text.contains(&beta), "{text}");
    assert_tried(
        &sandbox.run(&["project", "list", "--context", "beta"]),
        &beta,
    );
}

#[cfg(unix)]
#[test]
fn a_config_file_others_could_read_a_token_in_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;

    let sandbox = Sandbox::new();
    two_contexts(&sandbox);
    let config = sandbox.config_file();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [&["project", "list"][..], &["context", "list"]] {
        let run = sandbox.run(args);
        run.assert_code(2);
        assert!(run.stderr.contains("chmod 600"), "{run:#?}");
        assert!(!run.stderr.contains("beta-secret-token"), "{run:#?}");
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    sandbox.run(&["context", "list"]).assert_code(0);
}

#[test]
fn short_names_are_taken_where_the_kind_is_known() {
    let sandbox = Sandbox::new();
    let server = closed_server();
    // Parsed, then the call fails for want of a server: the name was accepted.
    for args in [
        &["deployment", "get", "shop/erp/main"][..],
        &["deployment", "versions", "shop/erp/main"],
        &["group", "get", "shop/erp"],
        &["scope", "create", "shop/dev"],
        &["job", "show", "shop/erp/main/0193abcd"],
        &["book", "show", "odoo-deploy"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--server", &server, "--token", "t"]);
        assert_tried(&sandbox.run(&args), &server);
    }
    // An id the services would refuse is a usage error naming both forms, before any call.
    let bad = sandbox.run(&["deployment", "get", "Shop/erp/main", "--server", &server]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("\"Shop\" is not a valid id")
            && bad.stderr.contains("{project}/{group}/{deployment}")
            && bad
                .stderr
                .contains("projects/{project}/groups/{group}/deployments/{deployment}"),
        "{bad:#?}"
    );
    sandbox
        .run(&["deployment", "get", "shop/-/-", "--server", &server])
        .assert_code(2);
}
