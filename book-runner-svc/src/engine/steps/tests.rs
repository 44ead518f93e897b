//! Step kinds against a directory cluster and a local HTTP server.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::{io::AsyncWriteExt as _, net::TcpListener, sync::mpsc};

use super::*;
use crate::cluster::directory::DirectoryCluster;

fn arguments(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: init, namespace: ns}\nspec: {backoffLimit: 0}\n";

#[test]
fn job_states_follow_conditions_and_counts() {
    let complete = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
    assert!(matches!(job_state(&complete), JobState::Succeeded));
    let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
    assert!(
        matches!(job_state(&failed), JobState::Failed(reason) if reason == "BackoffLimitExceeded")
    );
    let counted = json!({"spec": {"backoffLimit": 1}, "status": {"failed": 2}});
    assert!(matches!(job_state(&counted), JobState::Failed(_)));
    assert!(matches!(
        job_state(&json!({"status": {"active": 1}})),
        JobState::Running
    ));
}

#[tokio::test]
async fn a_kubernetes_job_step_ends_with_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let (log, mut lines) = mpsc::unbounded_channel();

    // Play the Job controller: mark the Job complete once it is applied.
    let path = dir.path().join("ns/job/init.yaml");
    let controller = tokio::spawn(async move {
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                let done = format!("{text}status:\n  succeeded: 1\n");
                write_as_a_controller(&path, done).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    run_step(
        StepKind::Job,
        &arguments(&[("manifest", JOB)]),
        &cluster,
        &[],
        &log,
    )
    .await
    .unwrap();
    controller.await.unwrap();
    drop(log);
    let mut said = Vec::new();
    while let Some(line) = lines.recv().await {
        said.push(line);
    }
    assert_eq!(
        said,
        [
            "Job ns/init created; waiting for it to complete",
            "Job ns/init succeeded"
        ]
    );

    // A failed Job fails the step with the Job's reason.
    let failed = JOB.replace("name: init", "name: broken");
    let path = dir.path().join("ns/job/broken.yaml");
    let controller = tokio::spawn(async move {
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                let failed = format!(
                    "{text}status:\n  conditions:\n  - {{type: Failed, status: \"True\", message: BackoffLimitExceeded}}\n"
                );
                write_as_a_controller(&path, failed).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let (log, _lines) = mpsc::unbounded_channel();
    let err = run_step(
        StepKind::Job,
        &arguments(&[("manifest", &failed)]),
        &cluster,
        &[],
        &log,
    )
    .await
    .unwrap_err();
    controller.await.unwrap();
    assert_eq!(err, "Job ns/broken failed: BackoffLimitExceeded");
}

/// Replaces an object's file as a controller must: written aside and renamed, since the step
/// may read the file at any moment and a file rewritten in place can read as empty.
async fn write_as_a_controller(path: &std::path::Path, text: String) {
    let aside = path.with_extension("yaml.new");
    tokio::fs::write(&aside, text).await.unwrap();
    tokio::fs::rename(&aside, path).await.unwrap();
}

/// Serves `statuses` in turn, one connection each.
async fn http_server(statuses: Vec<u16>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for status in statuses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
            let response =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    format!("http://{address}/web/health")
}

#[tokio::test]
async fn http_check_polls_until_the_expected_status() {
    let url = http_server(vec![503, 503, 200]).await;
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let (log, mut lines) = mpsc::unbounded_channel();
    run_step(
        StepKind::HttpCheck,
        &arguments(&[("url", &url)]),
        &cluster,
        &["127.0.0.0/8".parse().unwrap()],
        &log,
    )
    .await
    .unwrap();
    drop(log);
    let mut said = Vec::new();
    while let Some(line) = lines.recv().await {
        said.push(line);
    }
    assert_eq!(
        said.first().unwrap(),
        &format!("waiting for {url} to answer 200")
    );
    assert!(said.contains(&format!("{url}: 503")), "{said:?}");
    assert_eq!(said.last().unwrap(), &format!("{url} answered 200"));
}

#[tokio::test]
async fn http_check_refuses_https_it_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let (log, _lines) = mpsc::unbounded_channel();
    let err = run_step(
        StepKind::HttpCheck,
        &arguments(&[("url", "https://shop.example/")]),
        &cluster,
        &[],
        &log,
    )
    .await
    .unwrap_err();
    assert!(err.contains("only http://"), "{err}");
}
