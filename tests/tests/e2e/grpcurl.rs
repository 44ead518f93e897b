//! The seed's journey with grpcurl alone (`scripts/grpcurl-journey`), driven by the gateway's
//! server reflection, against the suite running as separate processes.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use eyrie_tests::Suite;
use tokio::process::Command;

/// The whole script, grpcurl's installation included on a first run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// Whether grpcurl runs (installing it first when needed). Without it the test is skipped
/// with a hint, except in CI, where it must run.
async fn grpcurl_available() -> bool {
    let installed = Command::new(script("grpcurl"))
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .await;
    let problem = match installed {
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
        Err(error) => error.to_string(),
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "grpcurl cannot be installed in CI: {problem}"
    );
    println!(
        "skipped: scripts/grpcurl could not install grpcurl (it needs python3 with venv and \
         access to PyPI): {problem}"
    );
    false
}

#[tokio::test]
async fn the_seed_journey_with_grpcurl_and_reflection_only() {
    if !grpcurl_available().await {
        return;
    }
    let suite = Suite::start().await.unwrap();
    let mut command = Command::new(script("grpcurl-journey"));
    command
        .arg("--cluster-dir")
        .arg(suite.clusters_dir().join("journey"))
        .arg(suite.gateway.address.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // A developer's own EYRIE_* settings must not leak into the test.
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EYRIE_")) {
        command.env_remove(key);
    }
    command.env("EYRIE_TOKEN", &suite.admin_token);

    let started = Instant::now();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .expect("the grpcurl journey did not end in time")
        .expect("scripts/grpcurl-journey starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/grpcurl-journey failed ({})\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
    // The script's own checks passed; a few of its findings, to show it really walked.
    for expected in [
        "books/odoo-initialize (BOOK_PHASE_INITIALIZE)",
        "the workload reads the database password from its copy",
        "version 2: VERSION_REASON_UPDATE, changed image",
        "has replicas: 0",
        "does not allow Drop",
        "acme-staging is gone",
        "Journey done",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    println!("grpcurl journey: {:.1?}", started.elapsed());
}
