//! A stand-in for the Kubernetes controllers and operators on a `directory` cluster, acting on
//! the files the way they act on a real cluster: Deployments and StatefulSets report their
//! replicas, Jobs complete, PGO creates its user Secret and scales its repository host with
//! `spec.shutdown`, PXC reports `ready` or `paused`. The built-in books wait for exactly these.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use serde_json::{Value, json};

/// How often the controllers look at every file again.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(30);

/// The controllers running over one cluster folder; they stop when this is dropped.
pub struct Controllers {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Controllers {
    /// Starts reconciling every object under `root` (which may not exist yet).
    pub fn start(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        // A thread of its own: it works the same under any test runtime and blocks none.
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                reconcile(&root);
                std::thread::sleep(RECONCILE_INTERVAL);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One pass over every object.
fn reconcile(root: &Path) {
    for path in yaml_files(root) {
        let Some(object) = read(&path) else { continue };
        let namespace = text(&object["metadata"]["namespace"]);
        let name = text(&object["metadata"]["name"]);
        match object["kind"].as_str() {
            Some("Deployment" | "StatefulSet") => {
                let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                set_status(&path, &object, workload_status(replicas));
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
            Some("PostgresCluster") => postgres_operator(root, &object, namespace, name),
            _ => {}
        }
    }
}

/// What PGO does for a PostgresCluster that the books wait for: the user's Secret, and the
/// repository host StatefulSet, scaled to zero once the cluster is shut down.
fn postgres_operator(root: &Path, cluster: &Value, namespace: &str, name: &str) {
    let user = cluster["spec"]["users"][0]["name"].as_str().unwrap_or(name);
    let secret_name = format!("{name}-pguser-{user}");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace},
        "data": {"password": "c2VjcmV0"},
    });
    ensure(root, namespace, "secret", &secret_name, &secret);
    let replicas = if cluster["spec"]["shutdown"] == true {
        0
    } else {
        1
    };
    let repo_host_name = format!("{name}-repo-host");
    let repo_host = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": repo_host_name, "namespace": namespace},
        "spec": {"replicas": replicas},
        // What the StatefulSet controller would write next, so that one pass settles it.
        "status": workload_status(replicas),
    });
    ensure(root, namespace, "statefulset", &repo_host_name, &repo_host);
}

/// The status of a Deployment or StatefulSet whose `replicas` are all up.
fn workload_status(replicas: i64) -> Value {
    json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas})
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Every `*.yaml` file under `root`, at any depth.
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
/// runner wrote it): the next pass sees the new content.
fn set_status(path: &Path, object: &Value, status: Value) {
    if object["status"] == status {
        return;
    }
    let mut updated = object.clone();
    updated["status"] = status;
    write_if_unchanged(path, object, &updated);
}

/// Creates or updates an object the operator owns, while its namespace exists.
fn ensure(root: &Path, namespace: &str, kind: &str, name: &str, object: &Value) {
    let folder = root.join(namespace);
    if namespace.is_empty() || !folder.exists() {
        return;
    }
    let path = folder.join(kind).join(format!("{name}.yaml"));
    match read(&path) {
        Some(current) if current == *object => {}
        Some(current) => write_if_unchanged(&path, &current, object),
        None => {
            if std::fs::create_dir_all(path.parent().expect("kind folder")).is_ok() {
                write(&path, object);
            }
        }
    }
}

fn write_if_unchanged(path: &Path, expected: &Value, object: &Value) {
    if read(path).as_ref() == Some(expected) {
        write(path, object);
    }
}

/// Replaces the file in one step (readers never see half of it); a folder deleted meanwhile
/// (the namespace was dropped) makes the write fail, which is what a real cluster would do.
fn write(path: &Path, object: &Value) {
    let temporary = path.with_extension(format!("controller.{}.tmp", std::process::id()));
    let Ok(text) = serde_saphyr::to_string(object) else {
        return;
    };
    if std::fs::write(&temporary, text).is_ok() && std::fs::rename(&temporary, path).is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
}
