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
                let done = format!(
                    "{text}status:\n  succeeded: 1\n  conditions:\n  - {{type: Complete, status: \"True\"}}\n"
                );
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
    // Between the two, what the wait saw while the Job ran, if it looked before the end.
    assert_eq!(
        said.first().unwrap(),
        "Job ns/init created; waiting for it to complete"
    );
    assert_eq!(said.last().unwrap(), "Job ns/init succeeded");
    for line in &said[1..said.len() - 1] {
        assert!(line.starts_with("Job ns/init: not complete"), "{said:?}");
    }

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

/// Writes `object` where the directory cluster keeps it, as a controller would.
async fn write_object(root: &std::path::Path, object: &serde_json::Value) {
    let target = ObjectRef::of_manifest(object).unwrap();
    let path = DirectoryCluster::new(root).path_of(&target).unwrap();
    tokio::fs::create_dir_all(path.parent().unwrap())
        .await
        .unwrap();
    write_as_a_controller(&path, serde_saphyr::to_string(object).unwrap()).await;
}

/// The object as stored, with `status` replaced.
async fn with_status(
    cluster: &DirectoryCluster,
    manifest: &serde_json::Value,
    status: serde_json::Value,
) -> serde_json::Value {
    let target = ObjectRef::of_manifest(manifest).unwrap();
    let mut object = cluster.get(&target).await.unwrap().unwrap();
    object["status"] = status;
    object
}

/// Receives log lines until one contains `part`, returning them all.
async fn said_until(lines: &mut mpsc::UnboundedReceiver<String>, part: &str) -> Vec<String> {
    let mut said = Vec::new();
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.recv().await {
            let found = line.contains(part);
            said.push(line);
            if found {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "never said {part:?}; said {said:?}");
    said
}

#[tokio::test]
async fn a_declared_failure_counts_for_the_current_generation_only() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let manifest = |size: u32| {
        json!({"apiVersion": "pxc.percona.com/v1", "kind": "PerconaXtraDBCluster",
               "metadata": {"name": "db", "namespace": "shop"}, "spec": {"pxc": {"size": size}}})
    };
    cluster.apply(&manifest(1), false).await.unwrap();
    let broken = json!({"observedGeneration": 1, "state": "error", "message": "old trouble"});
    write_object(
        dir.path(),
        &with_status(&cluster, &manifest(1), broken).await,
    )
    .await;
    // The redeploy: a new generation, while the status still tells of the previous one.
    cluster.apply(&manifest(3), false).await.unwrap();

    let step = arguments(&[
        ("api_version", "pxc.percona.com/v1"),
        ("kind", "PerconaXtraDBCluster"),
        ("name", "db"),
        ("namespace", "shop"),
        ("condition", "field:status.state=ready"),
        ("fail_when", "field:status.state=error\ncondition:Failed\n"),
    ]);
    let (log, mut lines) = mpsc::unbounded_channel();
    let waiting = {
        let root = dir.path().to_owned();
        tokio::spawn(async move {
            let cluster = DirectoryCluster::new(root);
            run_step(StepKind::Wait, &step, &cluster, &[], &log).await
        })
    };
    let said = said_until(&mut lines, "observe generation 2").await;
    assert_eq!(
        said[0],
        "waiting for PerconaXtraDBCluster shop/db to be field:status.state=ready \
         (failing when field:status.state=error or condition:Failed)"
    );
    let failing = json!({"observedGeneration": 2, "state": "error",
                         "messages": ["pxc: disk full", "haproxy: no backend"]});
    write_object(
        dir.path(),
        &with_status(&cluster, &manifest(3), failing).await,
    )
    .await;
    let err = waiting.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        "PerconaXtraDBCluster shop/db failed: field:status.state=error: pxc: disk full; \
         haproxy: no backend"
    );

    let malformed = arguments(&[
        ("api_version", "v1"),
        ("kind", "ConfigMap"),
        ("name", "c"),
        ("condition", "exists"),
        ("fail_when", "field:status"),
    ]);
    let (log, _lines) = mpsc::unbounded_channel();
    let err = run_step(StepKind::Wait, &malformed, &cluster, &[], &log)
        .await
        .unwrap_err();
    assert!(
        err.starts_with("fail_when condition 1: invalid condition"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stuck_pod_fails_the_wait_and_progress_is_told_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": "shop"},
                            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}});
    cluster.apply(&deployment, false).await.unwrap();
    let status = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1});
    write_object(
        dir.path(),
        &with_status(&cluster, &deployment, status).await,
    )
    .await;
    let pod = |reason: &str, message: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-7c9d", "namespace": "shop", "labels": {"app": "web"}},
               "status": {"containerStatuses": [{"name": "odoo",
                   "state": {"waiting": {"reason": reason, "message": message}}}]}})
    };
    // Another workload's stuck pod is none of this wait's business.
    let mut other = pod("CrashLoopBackOff", "");
    other["metadata"] = json!({"name": "db-0", "namespace": "shop", "labels": {"app": "db"}});
    write_object(dir.path(), &other).await;

    let step = arguments(&[
        ("api_version", "apps/v1"),
        ("kind", "Deployment"),
        ("name", "web"),
        ("namespace", "shop"),
        ("condition", "available"),
    ]);
    let (log, mut lines) = mpsc::unbounded_channel();
    let waiting = {
        let root = dir.path().to_owned();
        tokio::spawn(async move {
            let cluster = DirectoryCluster::new(root);
            run_step(StepKind::Wait, &step, &cluster, &[], &log).await
        })
    };
    let mut said = said_until(&mut lines, "0 of 1 updated replicas available").await;
    write_object(dir.path(), &pod("ErrImagePull", "rpc error: not found")).await;
    said.extend(said_until(&mut lines, "ErrImagePull").await);
    write_object(
        dir.path(),
        &pod("ImagePullBackOff", "Back-off pulling image \"odoo:bad\""),
    )
    .await;
    let err = waiting.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        "Deployment shop/web failed: pod web-7c9d/odoo: ImagePullBackOff: \
         Back-off pulling image \"odoo:bad\""
    );
    while let Ok(line) = lines.try_recv() {
        said.push(line);
    }
    assert_eq!(
        said,
        [
            "waiting for Deployment shop/web to be available",
            "Deployment shop/web: 0 of 1 updated replicas available",
            "Deployment shop/web: 0 of 1 updated replicas available; \
             pod web-7c9d/odoo: ErrImagePull: rpc error: not found",
        ],
        "each change is told once, however often the wait looks"
    );
}

#[tokio::test]
async fn a_kubernetes_job_step_fails_on_a_stuck_pod_or_a_vanished_job() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DirectoryCluster::new(dir.path());
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: ns}\n\
               spec: {selector: {matchLabels: {job-name: migrate}}}\n";
    let stuck = json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "migrate-x1", "namespace": "ns",
                                    "labels": {"job-name": "migrate"}},
                       "status": {"containerStatuses": [{"name": "main", "state": {"waiting": {
                           "reason": "CreateContainerConfigError",
                           "message": "secret \"db\" not found"}}}]}});
    write_object(dir.path(), &stuck).await;
    let (log, _lines) = mpsc::unbounded_channel();
    let err = run_step(
        StepKind::Job,
        &arguments(&[("manifest", job)]),
        &cluster,
        &[],
        &log,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "Job ns/migrate failed: pod migrate-x1/main: CreateContainerConfigError: \
         secret \"db\" not found"
    );

    // Deleted while it runs: whether it succeeded can no longer be known.
    let vanishing = job.replace("migrate", "vanishing");
    let (log, mut lines) = mpsc::unbounded_channel();
    let running = {
        let root = dir.path().to_owned();
        tokio::spawn(async move {
            let cluster = DirectoryCluster::new(root);
            let step = arguments(&[("manifest", &vanishing)]);
            run_step(StepKind::Job, &step, &cluster, &[], &log).await
        })
    };
    said_until(&mut lines, "not complete").await;
    let target = ObjectRef {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: Some("ns".into()),
        name: "vanishing".into(),
    };
    cluster.delete(&target).await.unwrap();
    assert_eq!(
        running.await.unwrap().unwrap_err(),
        "Job ns/vanishing failed: it no longer exists"
    );
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
