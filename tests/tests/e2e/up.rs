//! `eyrie up`: the whole suite in one process, reachable through the gateway it prints.

use std::{
    collections::HashSet, os::unix::fs::PermissionsExt as _, process::Command, time::Duration,
};

use eyrie_proto::{
    internal::v1::{
        RecordVersionRequest, ReportJobOutcomeRequest, StartJobRequest,
        deployment_callbacks_client::DeploymentCallbacksClient, job_runner_client::JobRunnerClient,
        version_recorder_client::VersionRecorderClient,
    },
    v1::{self as pb, deployment_service_client::DeploymentServiceClient},
};
use eyrie_tests::{
    ServiceProcess, binary,
    journey::{ClusterFolder, Controllers, Gateway},
    rpc,
};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;

async fn start_up(data_dir: &std::path::Path) -> ServiceProcess {
    ServiceProcess::spawn(
        binary("eyrie"),
        vec![
            "up".into(),
            "--port".into(),
            "0".into(),
            "--data-dir".into(),
            data_dir.into(),
        ],
        Vec::new(),
        tempfile::tempdir().unwrap(),
        "  gateway:     http://",
    )
    .await
    .unwrap()
}

/// The token `eyrie up` printed, once it printed it.
async fn printed_token(process: &ServiceProcess) -> String {
    for _ in 0..500 {
        let token = process
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|line| line.trim().strip_prefix("admin token: ").map(str::to_owned));
        if let Some(token) = token {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("eyrie up printed no admin token")
}

fn interrupt(process: &ServiceProcess) {
    let status = Command::new("kill")
        .args(["-INT", &process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn eyrie_up_serves_the_public_api_keeps_its_token_and_stops_on_ctrl_c() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut process = start_up(data_dir.path()).await;

    let channel = process.channel().await.unwrap();
    assert_eq!(
        rpc::health(channel.clone(), "").await.unwrap(),
        ServingStatus::Serving
    );
    let services = rpc::list_services_v1(channel).await.unwrap();
    for public in [
        "eyrie.v1.BookService",
        "eyrie.v1.DeploymentService",
        "eyrie.v1.JobService",
        "eyrie.v1.VersionService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|s| s == public),
            "{public} missing from {services:?}"
        );
    }
    assert!(
        !services.iter().any(|s| s.starts_with("eyrie.internal")),
        "{services:?}"
    );

    let token = printed_token(&process).await;
    let token_file = data_dir.path().join("admin-token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    for database in ["deployment", "book-runner", "version", "gateway"] {
        assert!(
            data_dir.path().join(format!("{database}.sqlite")).exists(),
            "{database} database"
        );
    }

    interrupt(&process);
    let status = process.wait(Duration::from_secs(20)).await.unwrap();
    assert!(
        status.success(),
        "eyrie up exited with {status:?}\n{}",
        process.logs()
    );

    // A second start reuses the data directory and its token.
    let restarted = start_up(data_dir.path()).await;
    assert_eq!(printed_token(&restarted).await, token);
}

/// Where `eyrie up` said `service` listens (`<service> listening on http://...`).
fn announced(process: &ServiceProcess, service: &str) -> String {
    let prefix = format!("{service} listening on ");
    process
        .stdout
        .lock()
        .unwrap()
        .iter()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("eyrie up did not say where {service} listens"))
}

async fn connect(url: String) -> Channel {
    Channel::from_shared(url).unwrap().connect().await.unwrap()
}

#[track_caller]
fn assert_unauthenticated<T: std::fmt::Debug>(result: Result<T, Status>, call: &str) {
    let status = result.expect_err(call);
    assert_eq!(status.code(), Code::Unauthenticated, "{call}: {status:?}");
}

/// Every distinct `eyr_<64 hex>` secret in `text`: the admin token, and the internal credential
/// if it ever leaked (it is made by the same generator).
fn secrets_in(text: &str) -> HashSet<String> {
    text.match_indices("eyr_")
        .filter_map(|(start, _)| text.get(start..start + 68))
        .filter(|candidate| candidate[4..].bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

/// Issue #15 (part 7): in `eyrie up` too, each service's own loopback port refuses whoever
/// skips the gateway (internal RPCs, a forged `x-eyrie-actor`), while the gateway and the
/// services' calls to each other carry the credential `eyrie up` made for this run only.
#[tokio::test]
async fn eyrie_up_services_refuse_callers_without_the_internal_credential() {
    let data_dir = tempfile::tempdir().unwrap();
    let process = start_up(data_dir.path()).await;
    let token = printed_token(&process).await;
    let runner = connect(announced(&process, "book-runner-svc")).await;
    let deployments = connect(announced(&process, "deployment-svc")).await;
    let versions = connect(announced(&process, "version-svc")).await;

    assert_unauthenticated(
        JobRunnerClient::new(runner.clone())
            .start_job(StartJobRequest {
                request_id: "forged".into(),
                book: "books/none-deploy".into(),
                ..Default::default()
            })
            .await,
        "StartJob",
    );
    assert_unauthenticated(
        DeploymentCallbacksClient::new(deployments.clone())
            .report_job_outcome(ReportJobOutcomeRequest::default())
            .await,
        "ReportJobOutcome",
    );
    assert_unauthenticated(
        VersionRecorderClient::new(versions)
            .record_version(RecordVersionRequest::default())
            .await,
        "RecordVersion",
    );
    // A public RPC on a service's own port, naming someone as the caller, is refused too.
    let mut forged = tonic::Request::new(pb::ListProjectsRequest::default());
    forged
        .metadata_mut()
        .insert("x-eyrie-actor", "tokens/admin".parse().unwrap());
    assert_unauthenticated(
        DeploymentServiceClient::new(deployments)
            .list_projects(forged)
            .await,
        "ListProjects with a forged actor",
    );
    // Health stays open to probes.
    assert_eq!(
        rpc::health(runner, "").await.unwrap(),
        ServingStatus::Serving
    );

    // Through the gateway a Deploy runs its books: deployment-svc starts the jobs on
    // book-runner-svc, which reports their outcomes back, each call carrying the credential.
    let cluster = ClusterFolder::new(data_dir.path().join("clusters/local"));
    let _controllers = Controllers::start(cluster.root());
    let mut admin = Gateway::new(process.channel().await.unwrap(), &token);
    admin
        .create_shop("acme", "Acme", cluster.root())
        .await
        .unwrap();
    let operation = admin
        .deployments
        .deploy_deployment(admin.request(pb::DeployDeploymentRequest {
            name: "projects/acme/groups/web/deployments/shop".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let ended = admin.ended(&operation.name).await.unwrap();
    assert_eq!(
        ended.status(),
        pb::OperationStatus::Succeeded,
        "{}\n{}",
        ended.message,
        process.logs()
    );
    assert_eq!(ended.jobs.len(), 2, "initialize, then deploy");

    // The credential is never printed, logged or stored: the only secret of its form that
    // `eyrie up` shows or keeps is the admin token.
    let mut shown = process.stdout.lock().unwrap().join("\n");
    shown.push_str(&process.logs());
    for entry in walk(data_dir.path()) {
        // The services still run: a temporary file may go between listing and reading.
        match std::fs::read(&entry) {
            Ok(bytes) => shown.push_str(&String::from_utf8_lossy(&bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("{}: {err}", entry.display()),
        }
    }
    assert_eq!(secrets_in(&shown), HashSet::from([token]));
}

/// Every file under `root`.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue; // a folder removed meanwhile
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
