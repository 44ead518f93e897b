//! The `eyrie` client against the suite running as separate processes: a user's setup, a
//! watched Deploy whose exit code a CI pipeline can rely on, JSON for scripts, and errors that
//! carry the server's message.

use std::path::Path;

use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, cli::EyrieCli, journey::Gateway};

const DEPLOYMENT: &str = "projects/acme/groups/web/deployments/shop";

/// A deploy book of two quick steps: write a ConfigMap, then see that it exists.
const QUICK_DEPLOY_BOOK: &str = r#"
type: none
display_name: Quick deploy
steps:
  - name: Write the configuration
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ deployment.slug ~ "-config" }}, namespace: {{ namespace }}}
        data: {image: {{ deployment.image }}}
  - name: Check the configuration
    uses: k8s.wait
    with:
      api_version: v1
      kind: ConfigMap
      name: "{{ deployment.slug ~ '-config' }}"
      namespace: "{{ namespace }}"
      condition: exists
    timeout: 30s
"#;

/// A deploy book whose only step fails at once: it patches an object nobody created.
const BROKEN_DEPLOY_BOOK: &str = r#"
type: none
display_name: Broken deploy
steps:
  - name: Patch a missing object
    uses: k8s.patch
    with:
      api_version: v1
      kind: ConfigMap
      name: "{{ deployment.slug ~ '-missing' }}"
      namespace: "{{ namespace }}"
      patch: '{"data": {"x": "1"}}'
"#;

async fn start() -> (Suite, EyrieCli) {
    let suite = Suite::start().await.unwrap();
    let cli = EyrieCli::new(suite.gateway.url(), suite.admin_token.clone());
    (suite, cli)
}

/// Project `acme`, scope `dev`, a `directory` cluster `local` in `clusters_dir`, and group `web`
/// of type `none` whose deploy book is `book` (applied from a file as `projects/acme/books/app`).
async fn set_up(cli: &EyrieCli, clusters_dir: &Path, book: &str) {
    cli.ok(&["project", "create", "acme", "--display-name", "Acme"])
        .await;
    cli.ok(&[
        "scope",
        "create",
        "projects/acme/scopes/dev",
        "--allow-drop",
    ])
    .await;
    let cluster_dir = clusters_dir.join("local");
    cli.ok(&[
        "cluster",
        "create",
        "projects/acme/clusters/local",
        "--directory",
        cluster_dir.to_str().unwrap(),
    ])
    .await;

    let book_dir = tempfile::tempdir().unwrap();
    let book_file = book_dir.path().join("app.yaml");
    std::fs::write(&book_file, book).unwrap();
    let applied = cli
        .ok(&[
            "book",
            "apply",
            "projects/acme/books/app",
            "--file",
            book_file.to_str().unwrap(),
        ])
        .await;
    assert!(
        applied.stderr.contains("created projects/acme/books/app"),
        "{applied}"
    );

    cli.ok(&[
        "group",
        "create",
        "projects/acme/groups/web",
        "--type",
        "none",
        "--deploy-book",
        "projects/acme/books/app",
    ])
    .await;
    cli.ok(&[
        "deployment",
        "create",
        DEPLOYMENT,
        "--scope",
        "projects/acme/scopes/dev",
        "--cluster",
        "projects/acme/clusters/local",
        "--image",
        "nginx:1.27",
    ])
    .await;
}

/// Index of the first line containing `needle`.
fn line_of(lines: &[&str], needle: &str, run: &impl std::fmt::Display) -> usize {
    lines
        .iter()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}\n{run}"))
}

/// Asserts that lines containing each of `needles` come in that order.
fn assert_in_order(lines: &[&str], needles: &[&str], run: &impl std::fmt::Display) {
    let mut from = 0;
    for needle in needles {
        from += 1 + line_of(&lines[from..], needle, run);
    }
}

#[tokio::test]
async fn a_watched_deploy_shows_each_step_and_exits_zero_when_its_books_succeed() {
    let (suite, cli) = start().await;
    set_up(&cli, &suite.clusters_dir(), QUICK_DEPLOY_BOOK).await;

    let deploy = cli
        .ok(&["deployment", "deploy", DEPLOYMENT, "--watch"])
        .await;
    let lines: Vec<&str> = deploy.stdout.lines().collect();
    // Initialize first, then deploy: two jobs of one operation, each step started then finished.
    let in_order = [
        "initialize book books/none-initialize",
        "[1/1] Create the namespace: started",
        "[1/1] Create the namespace: succeeded in ",
        "deploy book projects/acme/books/app",
        "[1/2] Write the configuration: started",
        "[1/2] Write the configuration: succeeded in ",
        "[2/2] Check the configuration: succeeded in ",
        "job succeeded in ",
    ];
    assert_in_order(&lines, &in_order, &deploy);
    // The operation names its two phases as soon as it is accepted (WatchOperation follows it).
    assert!(
        lines[0].starts_with(&format!("operation {DEPLOYMENT}/operations/"))
            && lines[0].contains("(phases: initialize ")
            && lines[0].contains(", deploy pending)"),
        "{deploy}"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with(&format!("operation {DEPLOYMENT}/operations/"))
            && last.ends_with(": deploy succeeded"),
        "{deploy}"
    );
    assert!(
        suite
            .clusters_dir()
            .join("local/acme-shop/configmap/shop-config.yaml")
            .exists(),
        "the ConfigMap was not written\n{deploy}"
    );

    // Scripts read JSON: one document for a get or a list...
    let deployment = cli
        .ok(&["deployment", "get", DEPLOYMENT, "--output", "json"])
        .await
        .json();
    assert_eq!(deployment["state"], "DEPLOYMENT_STATE_DEPLOY");
    assert_eq!(
        deployment["last_operation"]["status"],
        "OPERATION_STATUS_SUCCEEDED"
    );
    let jobs = cli
        .ok(&["job", "list", DEPLOYMENT, "-o", "json"])
        .await
        .json();
    let jobs = jobs.as_array().expect("a JSON array of jobs");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    // ...and one object per line for a watch: the job, its events in order, the job as it ended.
    let deploy_job = jobs[0]["name"].as_str().unwrap();
    let watched = cli.ok(&["job", "watch", deploy_job, "-o", "json"]).await;
    let messages = watched.json_lines();
    assert_eq!(messages.first().unwrap()["job"]["name"], deploy_job);
    assert_eq!(
        messages.last().unwrap()["job"]["status"],
        "JOB_STATUS_SUCCEEDED"
    );
    let sequences: Vec<u64> = messages
        .iter()
        .filter_map(|message| message["event"]["sequence"].as_str())
        .map(|sequence| sequence.parse().unwrap())
        .collect();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());

    // A Deploy in JSON: the operation first and last, events between.
    let redeploy = cli
        .ok(&["deployment", "deploy", DEPLOYMENT, "--watch", "-o", "json"])
        .await;
    let messages = redeploy.json_lines();
    assert_eq!(
        messages.first().unwrap()["operation"]["status"],
        "OPERATION_STATUS_RUNNING"
    );
    assert_eq!(
        messages.last().unwrap()["operation"]["status"],
        "OPERATION_STATUS_SUCCEEDED"
    );
}

#[tokio::test]
async fn a_watched_deploy_whose_book_fails_exits_non_zero_with_the_servers_message() {
    let (suite, cli) = start().await;
    set_up(&cli, &suite.clusters_dir(), BROKEN_DEPLOY_BOOK).await;

    let deploy = cli
        .run(&["deployment", "deploy", DEPLOYMENT, "--watch"])
        .await;
    deploy.assert_code(1);
    let lines: Vec<&str> = deploy.stdout.lines().collect();
    assert_in_order(
        &lines,
        &[
            "[1/1] Create the namespace: succeeded",
            "[1/1] Patch a missing object: failed",
            "job failed",
        ],
        &deploy,
    );
    // The failure names the step and says why, as the runner put it.
    let error = deploy
        .stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line\n{deploy}"));
    assert!(
        error.contains(&format!("deploy of {DEPLOYMENT} failed"))
            && error.contains("Patch a missing object")
            && error.contains("not found"),
        "{deploy}"
    );

    // The same action runs again; in JSON the last line is the failed operation.
    let again = cli
        .run(&["deployment", "deploy", DEPLOYMENT, "--watch", "-o", "json"])
        .await;
    again.assert_code(1);
    let messages = again.json_lines();
    let operation = &messages.last().unwrap()["operation"];
    assert_eq!(operation["status"], "OPERATION_STATUS_FAILED", "{again}");
    assert!(
        operation["message"]
            .as_str()
            .unwrap()
            .contains("Patch a missing object"),
        "{again}"
    );

    // `job watch` of the failed job fails the same way.
    let jobs = cli
        .ok(&[
            "job", "list", DEPLOYMENT, "--status", "failed", "-o", "json",
        ])
        .await
        .json();
    let failed_job = jobs[0]["name"].as_str().unwrap();
    cli.run(&["job", "watch", failed_job]).await.assert_code(1);
}

#[tokio::test]
async fn refusals_show_the_servers_message_and_code_with_distinct_exit_codes() {
    let (_suite, cli) = start().await;

    // The server refused: its message and code, never a debug dump.
    let missing = cli.run(&["project", "get", "projects/nope"]).await;
    missing.assert_code(4);
    assert!(
        missing.stderr.contains("error: ")
            && missing.stderr.contains("projects/nope")
            && missing.stderr.contains("(NOT_FOUND)")
            && !missing.stderr.contains("Status {"),
        "{missing}"
    );
    let invalid = cli
        .run(&["project", "create", "Not_A_Label", "--display-name", "X"])
        .await;
    invalid.assert_code(4);
    assert!(invalid.stderr.contains("(INVALID_ARGUMENT)"), "{invalid}");

    // A malformed name is a usage error, found before any call.
    let usage = cli.run(&["deployment", "get", "projects/acme"]).await;
    usage.assert_code(2);
    assert!(
        usage
            .stderr
            .contains("projects/{project}/groups/{group}/deployments/{deployment}"),
        "{usage}"
    );

    // No server there.
    let unreachable = cli
        .run(&["project", "list", "--server", "http://127.0.0.1:1"])
        .await;
    unreachable.assert_code(3);
    assert!(unreachable.stderr.contains("cannot reach"), "{unreachable}");

    // A wrong token.
    let unauthenticated = cli
        .run(&["project", "list", "--token", "not-a-token"])
        .await;
    unauthenticated.assert_code(4);
    assert!(
        unauthenticated.stderr.contains("(UNAUTHENTICATED)"),
        "{unauthenticated}"
    );
}

/// A deploy book that writes a ConfigMap into a shared namespace outside the deployment's own.
const SHARED_NAMESPACE_BOOK: &str = r#"
type: none
display_name: Write into the shared cache namespace
steps:
  - name: Register with the shared cache
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ deployment.slug ~ "-client" }}, namespace: shared-cache}
"#;

#[tokio::test]
async fn a_global_admin_sets_the_project_boundary_its_admins_cannot_widen_it() {
    let (suite, cli) = start().await;
    set_up(&cli, &suite.clusters_dir(), SHARED_NAMESPACE_BOOK).await;

    // Outside the boundary, the deploy book fails before writing anything.
    let refused = cli
        .run(&["deployment", "deploy", DEPLOYMENT, "--watch"])
        .await;
    assert_ne!(refused.code, Some(0), "{refused}");
    assert!(
        refused.stdout.contains("it is in namespace shared-cache")
            || refused.stderr.contains("it is in namespace shared-cache"),
        "{refused}"
    );
    let planted = suite.clusters_dir().join("local/shared-cache");
    assert!(!planted.exists(), "{refused}");

    // A project admin cannot widen the boundary.
    let mut gateway = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    let project_admin = gateway
        .create_token("acme-admin", "projects/acme", pb::Role::Admin)
        .await
        .unwrap();
    let widen = cli
        .run(&[
            "project",
            "boundary",
            "acme",
            "--allow-namespace",
            "*",
            "--token",
            &project_admin,
        ])
        .await;
    widen.assert_code(4);
    assert!(widen.stderr.contains("(PERMISSION_DENIED)"), "{widen}");

    // A global admin can, and the same action then goes through.
    let set = cli
        .ok(&[
            "project",
            "boundary",
            "acme",
            "--allow-namespace",
            "shared-*",
        ])
        .await;
    assert!(set.stdout.contains("shared-*"), "{set}");
    let shown = cli
        .ok(&["project", "get", "acme", "-o", "json"])
        .await
        .json();
    assert_eq!(shown["boundary"]["namespaces"][0], "shared-*");
    cli.ok(&["deployment", "deploy", DEPLOYMENT, "--watch"])
        .await;
    assert!(planted.join("configmap/shop-client.yaml").exists());
}

/// `deployment update DEPLOYMENT` with `args`.
fn update<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut line = vec!["deployment", "update", DEPLOYMENT];
    line.extend_from_slice(args);
    line
}

/// The deployment's parameters, as `deployment get -o json` shows them.
async fn parameters_of(cli: &EyrieCli, deployment: &str) -> serde_json::Value {
    cli.ok(&["deployment", "get", deployment, "-o", "json"])
        .await
        .json()["parameters"]
        .clone()
}

#[tokio::test]
async fn param_flags_and_files_change_only_the_parameters_they_name() {
    let (suite, cli) = start().await;
    set_up(&cli, &suite.clusters_dir(), QUICK_DEPLOY_BOOK).await;
    cli.ok(&update(&[
        "--param", "a=1", "--param", "b=2", "--param", "c=3",
    ]))
    .await;
    // One more parameter keeps the three; a value may hold `=`.
    cli.ok(&update(&["--param", "host=db?sslmode=require"]))
        .await;
    assert_eq!(
        parameters_of(&cli, DEPLOYMENT).await,
        serde_json::json!({"a": "1", "b": "2", "c": "3", "host": "db?sslmode=require"})
    );
    // `KEY-` removes that key only.
    cli.ok(&update(&["--param", "b-"])).await;
    assert_eq!(
        parameters_of(&cli, DEPLOYMENT).await,
        serde_json::json!({"a": "1", "c": "3", "host": "db?sslmode=require"})
    );

    // A YAML file merges the same way, and a flag wins over it; then a JSON file.
    let files = tempfile::tempdir().unwrap();
    let yaml = files.path().join("params.yaml");
    std::fs::write(&yaml, "a: from-yaml\nd: \"4\"\nc: from-yaml\n").unwrap();
    cli.ok(&update(&[
        "--params-file",
        yaml.to_str().unwrap(),
        "--param",
        "c=flag",
    ]))
    .await;
    let json = files.path().join("params.json");
    std::fs::write(&json, r#"{"e": "5", "host": "db.internal"}"#).unwrap();
    cli.ok(&update(&["--params-file", json.to_str().unwrap()]))
        .await;
    assert_eq!(
        parameters_of(&cli, DEPLOYMENT).await,
        serde_json::json!({"a": "from-yaml", "c": "flag", "d": "4", "e": "5", "host": "db.internal"})
    );

    // With a stale etag of the user's own, the change is refused, not merged into newer data.
    let etag = cli
        .ok(&["deployment", "get", DEPLOYMENT, "-o", "json"])
        .await
        .json()["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    cli.ok(&update(&["--param", "f=6"])).await;
    let stale = cli.run(&update(&["--param", "g=7", "--etag", &etag])).await;
    stale.assert_code(4);
    assert!(stale.stderr.contains("(ABORTED)"), "{stale}");
    assert!(parameters_of(&cli, DEPLOYMENT).await.get("g").is_none());

    // An empty key is a usage error naming the flag; so is an unreadable file.
    let empty = cli.run(&update(&["--param", "=x"])).await;
    empty.assert_code(2);
    assert!(empty.stderr.contains("--param"), "{empty}");
    let missing = cli
        .run(&update(&["--params-file", "no-such-file.yaml"]))
        .await;
    missing.assert_code(2);
    assert!(missing.stderr.contains("--params-file"), "{missing}");

    // On create, the file is the initial map and the flags win over it.
    let cart = "projects/acme/groups/web/deployments/cart";
    cli.ok(&[
        "deployment",
        "create",
        cart,
        "--scope",
        "dev",
        "--cluster",
        "local",
        "--image",
        "nginx:1.27",
        "--params-file",
        yaml.to_str().unwrap(),
        "--param",
        "a=flag",
    ])
    .await;
    assert_eq!(
        parameters_of(&cli, cart).await,
        serde_json::json!({"a": "flag", "c": "from-yaml", "d": "4"})
    );
}

#[tokio::test]
async fn relative_directories_and_short_scope_and_cluster_names_resolve_on_the_client() {
    let (suite, cli) = start().await;
    set_up(&cli, &suite.clusters_dir(), QUICK_DEPLOY_BOOK).await;

    // A relative directory is taken from where the command runs, and stored absolute.
    let work = tempfile::tempdir().unwrap();
    cli.run_in(
        work.path(),
        &[
            "cluster",
            "create",
            "projects/acme/clusters/other",
            "--directory",
            "./clusters/other",
        ],
    )
    .await
    .assert_code(0);
    let cluster = cli
        .ok(&[
            "cluster",
            "get",
            "projects/acme/clusters/other",
            "-o",
            "json",
        ])
        .await
        .json();
    // The command sees its working directory without symbolic links, as the kernel reports it.
    let expected = std::fs::canonicalize(work.path())
        .unwrap()
        .join("clusters/other");
    assert_eq!(
        cluster["directory"]["path"],
        expected.to_str().unwrap(),
        "{cluster}"
    );

    // A bare scope or cluster id is taken in the deployment's project; full names still work.
    cli.ok(&["scope", "create", "projects/acme/scopes/qa"])
        .await;
    cli.ok(&[
        "deployment",
        "update",
        DEPLOYMENT,
        "--scope",
        "qa",
        "--cluster",
        "other",
        "--cluster",
        "projects/acme/clusters/local",
    ])
    .await;
    let deployment = cli
        .ok(&["deployment", "get", DEPLOYMENT, "-o", "json"])
        .await
        .json();
    assert_eq!(deployment["scope"], "projects/acme/scopes/qa");
    assert_eq!(
        deployment["clusters"],
        serde_json::json!([
            "projects/acme/clusters/other",
            "projects/acme/clusters/local"
        ])
    );
}

#[tokio::test]
async fn showing_a_group_lists_the_parameters_its_books_take() {
    let (_suite, cli) = start().await;
    cli.ok(&["project", "create", "acme", "--display-name", "Acme"])
        .await;
    cli.ok(&[
        "group",
        "create",
        "projects/acme/groups/erp",
        "--type",
        "odoo",
    ])
    .await;

    let shown = cli.ok(&["group", "show", "projects/acme/groups/erp"]).await;
    let lines: Vec<&str> = shown.stdout.lines().collect();
    // The group's own details come first, then the table.
    let header = line_of(&lines, "PARAMETER", &shown);
    assert!(line_of(&lines, "deploy book:", &shown) < header, "{shown}");
    let row = |name: &str| {
        lines
            .iter()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}\n{shown}"))
            .to_owned()
    };
    let host = row("host");
    assert!(
        host.contains("required") && host.contains("odoo-deploy"),
        "{shown}"
    );
    let db_port = row("db_port");
    assert!(db_port.contains("default 5432"), "{shown}");
    // Declared by several books, a parameter is still one row.
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.split_whitespace().next() == Some("db_port"))
            .count(),
        1,
        "{shown}"
    );

    // JSON stays the group alone.
    let json = cli
        .ok(&["group", "get", "projects/acme/groups/erp", "-o", "json"])
        .await
        .json();
    assert_eq!(json["name"], "projects/acme/groups/erp");
}

#[tokio::test]
async fn completion_scripts_need_no_server() {
    // Nothing listens there: printing a script must not connect.
    let cli = EyrieCli::new("http://127.0.0.1:9", "unused");
    let bash = cli.ok(&["completion", "bash"]).await;
    assert!(
        bash.stdout.contains("_eyrie") && bash.stdout.contains("deployment"),
        "{bash}"
    );
    for shell in ["zsh", "fish"] {
        let script = cli.ok(&["completion", shell]).await;
        assert!(script.stdout.contains("deployment"), "{script}");
    }
    cli.run(&["completion", "tcsh"]).await.assert_code(2);
}

/// A simulated cluster: the built-in books of a `none` group run to their end with no one
/// playing the controllers but the runner, and nothing a user reads passes it for a real one.
#[tokio::test]
async fn a_simulated_cluster_finishes_the_built_in_books_and_says_it_is_simulated() {
    let (suite, cli) = start().await;
    cli.ok(&["project", "create", "acme"]).await;
    cli.ok(&[
        "scope",
        "create",
        "projects/acme/scopes/dev",
        "--allow-drop",
    ])
    .await;
    let folder = suite.clusters_dir().join("sim");
    cli.ok(&[
        "cluster",
        "create",
        "projects/acme/clusters/sim",
        "--directory",
        folder.to_str().unwrap(),
        "--simulated",
    ])
    .await;
    let listed = cli.ok(&["cluster", "list", "projects/acme"]).await;
    assert!(
        listed
            .stdout
            .contains(&format!("directory {} (simulated)", folder.display())),
        "{listed}"
    );
    cli.ok(&[
        "group",
        "create",
        "projects/acme/groups/apps",
        "--type",
        "none",
    ])
    .await;
    let deployment = "projects/acme/groups/apps/deployments/web";
    cli.ok(&[
        "deployment",
        "create",
        deployment,
        "--scope",
        "dev",
        "--cluster",
        "sim",
        "--image",
        "nginx:1.27",
    ])
    .await;

    cli.ok(&["deployment", "deploy", deployment, "--watch"])
        .await;
    let state = cli
        .ok(&["deployment", "get", deployment, "-o", "json"])
        .await
        .json();
    assert_eq!(state["state"], "DEPLOYMENT_STATE_DEPLOY", "{state}");
    // The simulated controllers made the pods the Deployment asked for.
    let pods: Vec<_> = std::fs::read_dir(folder.join("acme-web/pod"))
        .unwrap()
        .collect();
    assert!(!pods.is_empty(), "no pod in {}", folder.display());

    let jobs = cli
        .ok(&["job", "list", deployment, "-o", "json"])
        .await
        .json();
    let job = jobs
        .as_array()
        .and_then(|jobs| jobs.iter().find(|job| job["phase"] == "BOOK_PHASE_DEPLOY"))
        .unwrap_or_else(|| panic!("no deploy job in {jobs}"));
    let wait_step = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .position(|step| step["uses"] == "k8s.wait")
        .expect("the deploy book waits");
    let log = cli
        .ok(&[
            "job",
            "log",
            job["name"].as_str().unwrap(),
            &wait_step.to_string(),
        ])
        .await;
    let lines: Vec<&str> = log.stdout.lines().filter(|line| !line.is_empty()).collect();
    assert!(!lines.is_empty(), "{log}");
    assert!(
        lines.iter().all(|line| line.contains("[simulated] ")),
        "{log}"
    );
}
