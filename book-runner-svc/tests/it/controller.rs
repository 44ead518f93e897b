//! A stand-in for the Kubernetes controllers and operators, acting on a directory cluster the
//! way they would act on a real one: Deployments become available, Jobs complete, PGO creates
//! its user Secret and scales its repository host, PXC reports ready or paused.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Runs the controllers over `root` until the returned token is cancelled (or dropped guard).
pub fn start(root: PathBuf) -> ControllerGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        while !token.is_cancelled() {
            reconcile(&root);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
    ControllerGuard(stop)
}

/// Stops the controllers when dropped.
pub struct ControllerGuard(CancellationToken);

impl Drop for ControllerGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn reconcile(root: &Path) {
    for path in yaml_files(root) {
        let Some(object) = read(&path) else { continue };
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match object["kind"].as_str() {
            Some("Deployment") | Some("StatefulSet") => {
                let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                let status = json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
                set_status(&path, &object, status);
            }
            Some("Job") if object["status"].is_null() => {
                let status =
                    json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]});
                set_status(&path, &object, status);
            }
            Some("PerconaXtraDBCluster") => {
                let state = if object["spec"]["pause"] == true {
                    "paused"
                } else {
                    "ready"
                };
                set_status(&path, &object, json!({"state": state}));
            }
            Some("PostgresCluster") => {
                let user = object["spec"]["users"][0]["name"]
                    .as_str()
                    .unwrap_or(&name)
                    .to_owned();
                let secret = json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{name}-pguser-{user}"), "namespace": namespace},
                    "data": {"password": "c2VjcmV0"},
                });
                ensure(
                    root,
                    &namespace,
                    "secret",
                    &format!("{name}-pguser-{user}"),
                    &secret,
                );
                let replicas = if object["spec"]["shutdown"] == true {
                    0
                } else {
                    1
                };
                let repo_host = json!({
                    "apiVersion": "apps/v1", "kind": "StatefulSet",
                    "metadata": {"name": format!("{name}-repo-host"), "namespace": namespace},
                    "spec": {"replicas": replicas},
                    "status": {"replicas": replicas, "readyReplicas": replicas},
                });
                ensure(
                    root,
                    &namespace,
                    "statefulset",
                    &format!("{name}-repo-host"),
                    &repo_host,
                );
            }
            _ => {}
        }
    }
}

/// Every YAML file under `root`, at any depth.
pub fn yaml_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files
}

fn read(path: &Path) -> Option<Value> {
    serde_saphyr::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes `status` into the object when it differs, unless the file changed meanwhile (the
/// runner wrote it): the next round sees the new content.
fn set_status(path: &Path, object: &Value, status: Value) {
    if object["status"] == status {
        return;
    }
    let mut updated = object.clone();
    updated["status"] = status;
    write_if_unchanged(path, object, &updated);
}

/// Creates or updates an object the operator owns.
fn ensure(root: &Path, namespace: &str, kind: &str, name: &str, object: &Value) {
    if !root.join(namespace).exists() {
        return;
    }
    let path = root.join(namespace).join(kind).join(format!("{name}.yaml"));
    match read(&path) {
        Some(current) if current == *object => {}
        Some(current) => write_if_unchanged(&path, &current, object),
        None => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            write(&path, object);
        }
    }
}

fn write_if_unchanged(path: &Path, expected: &Value, object: &Value) {
    if read(path).as_ref() == Some(expected) {
        write(path, object);
    }
}

fn write(path: &Path, object: &Value) {
    let temporary = path.with_extension(format!("controller.{}.tmp", std::process::id()));
    if std::fs::write(&temporary, serde_saphyr::to_string(object).unwrap()).is_ok() {
        let _ = std::fs::rename(&temporary, path);
    }
}
