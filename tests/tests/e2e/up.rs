//! `eyrie up`: the whole suite in one process, reachable through the gateway it prints.

use std::{os::unix::fs::PermissionsExt as _, process::Command, time::Duration};

use eyrie_tests::{ServiceProcess, binary, rpc};
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
