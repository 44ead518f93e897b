//! The Kubernetes controllers and operators the built-in books wait for, played on the files of
//! a `directory` cluster: [`simulation`](crate::cluster::simulation)'s pure controllers applied
//! to a folder.
//!
//! A thread runs a pass every interval over every namespace folder: it reads the objects, asks
//! the simulation what its controllers change, and writes that into the files as an API server
//! would (a uid and generation for what it creates, a new generation when a spec changes, status
//! written apart). It also plays the garbage collector, deleting what lost its owner. A file
//! that changed since the pass read it is left alone (the runner wrote it): the next pass sees
//! the new content, as a conflict makes a controller retry. Each compare and write holds the
//! folder's [`FolderLock`], as the runner's writes do, so neither lands between the other's
//! read and write.

use std::{
    collections::BTreeMap,
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use serde_json::Value;

use crate::cluster::{
    ClusterError, ObjectRef,
    directory::{FolderLock, object_path},
    simulation::{
        Change, Faults, collect_garbage, reconcile_namespace,
        store::{admit_create, admit_status, admit_update, with_uid},
    },
};

/// The folder of cluster-scoped objects (see the directory driver).
const CLUSTER_SCOPED: &str = "_cluster";

/// The controllers running over one folder; they stop when this is dropped.
pub struct Controllers {
    root: PathBuf,
    /// Dropped to stop the thread: it wakes at once instead of finishing its wait.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Controllers {
    /// Starts reconciling every object under `root` (which may not exist yet: a cluster's
    /// folder, or a folder holding cluster folders) every `interval`, playing `faults` (images
    /// that cannot be pulled or crash, Jobs that fail).
    pub fn start(root: impl Into<PathBuf>, interval: Duration, faults: Faults) -> Self {
        let root = root.into();
        let (stop, stopping) = mpsc::channel::<()>();
        let folder = root.clone();
        // A thread of its own: the passes do blocking file I/O, and it works the same under any
        // runtime (tests start these from synchronous code too).
        let thread = std::thread::spawn(move || {
            loop {
                reconcile(&folder, &faults);
                // Nothing is ever sent: the sender's drop ends the wait, and the loop.
                if let Err(mpsc::RecvTimeoutError::Disconnected) = stopping.recv_timeout(interval) {
                    break;
                }
            }
        });
        Self {
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the controllers and waits for their last pass to end (a test removing the folder
    /// next wants no write after this returns).
    pub fn stop(self) {
        drop(self);
    }

    /// The folder the controllers work on.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl std::fmt::Debug for Controllers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controllers")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        drop(self.stop.take());
        // Woken at once, the thread ends with the pass in progress, which is waited for: the
        // next job on the folder must not meet a pass that read the files before it wrote.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One pass over every namespace folder of every cluster under `root`: a file
/// `<cluster>/<namespace>/<kind>/<name>.yaml` at any depth (`root` may be a cluster's folder, or
/// hold several).
fn reconcile(root: &Path, faults: &Faults) {
    let mut namespaces: BTreeMap<(PathBuf, String), Vec<PathBuf>> = BTreeMap::new();
    for path in yaml_files(root) {
        let Some(namespace_folder) = path.parent().and_then(Path::parent) else {
            continue;
        };
        let (Some(cluster), Some(namespace)) =
            (namespace_folder.parent(), namespace_folder.file_name())
        else {
            continue;
        };
        let namespace = namespace.to_string_lossy().into_owned();
        if namespace != CLUSTER_SCOPED && !namespace.starts_with('.') {
            namespaces
                .entry((cluster.to_path_buf(), namespace))
                .or_default()
                .push(path);
        }
    }
    for ((cluster, namespace), files) in &namespaces {
        Namespace::read(cluster, namespace, files).reconcile(faults);
    }
}

/// The objects of one namespace folder, as a pass read them.
struct Namespace<'a> {
    /// The cluster's folder.
    root: &'a Path,
    name: &'a str,
    /// Each object as read, by (kind, name).
    read: BTreeMap<(String, String), Value>,
}

impl<'a> Namespace<'a> {
    fn read(root: &'a Path, name: &'a str, files: &[PathBuf]) -> Self {
        let mut read = BTreeMap::new();
        for path in files {
            let Some(mut object) = read_object(path) else {
                continue;
            };
            // What an API server gives every object it creates, for those the runner wrote.
            if object.pointer("/metadata/uid").is_none() && object["metadata"].is_object() {
                let admitted = with_uid(&object, &new_uid());
                let written = FolderLock::acquire(root)
                    .is_ok_and(|_writing| write_if_unchanged(path, &object, &admitted));
                if written {
                    object = admitted;
                }
            }
            let key = (text(&object, "/kind"), text(&object, "/metadata/name"));
            read.insert(key, object);
        }
        Self { root, name, read }
    }

    fn reconcile(&self, faults: &Faults) {
        let objects: Vec<Value> = self.read.values().cloned().collect();
        let mut changes = reconcile_namespace(&objects, faults, SystemTime::now());
        changes.extend(collect_garbage(&objects).into_iter().map(Change::Delete));
        for change in changes {
            self.apply(&change);
        }
    }

    /// The file of `kind` `name` in this namespace, by the directory driver's rule: a name made
    /// from what a book wrote (a PostgresCluster's user, say) cannot lead out of the folder.
    fn path(&self, kind: &str, name: &str) -> Result<PathBuf, ClusterError> {
        object_path(
            self.root,
            &ObjectRef {
                api_version: String::new(),
                kind: kind.to_owned(),
                namespace: Some(self.name.to_owned()),
                name: name.to_owned(),
            },
        )
    }

    fn seen(&self, target: &ObjectRef) -> Option<&Value> {
        self.read.get(&(target.kind.clone(), target.name.clone()))
    }

    fn apply(&self, change: &Change) {
        let Ok(_writing) = FolderLock::acquire(self.root) else {
            return;
        };
        let target = change.target();
        let verb = match change {
            Change::Create(_) => "creates",
            Change::Update(_) => "updates",
            Change::Status { .. } => "writes the status of",
            Change::Delete(_) => "deletes",
        };
        tracing::debug!(simulated = true, "simulated controller {verb} {target}");
        let path = match self.path(&target.kind, &target.name) {
            Ok(path) => path,
            Err(error) => {
                tracing::warn!(
                    simulated = true,
                    "simulated controller leaves {target}: {error}"
                );
                return;
            }
        };
        match change {
            Change::Create(object) => {
                // Nothing is created in a namespace that is gone or being dropped.
                let namespace = self
                    .root
                    .join(CLUSTER_SCOPED)
                    .join("namespace")
                    .join(format!("{}.yaml", self.name));
                let Some(folder) = path.parent() else { return };
                if !namespace.exists() || path.exists() {
                    return;
                }
                // Not `create_dir_all`: a namespace folder removed meanwhile stays removed.
                match std::fs::create_dir(folder) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(_) => return,
                }
                write(&path, &admit_create(object, &new_uid(), SystemTime::now()));
            }
            Change::Update(object) => {
                if let Some(seen) = self.seen(&target)
                    && let Some(updated) = admit_update(seen, object)
                {
                    write_if_unchanged(&path, seen, &updated);
                }
            }
            Change::Status { status, .. } => {
                if let Some(seen) = self.seen(&target) {
                    write_if_unchanged(&path, seen, &admit_status(seen, status));
                }
            }
            Change::Delete(_) => {
                if let Some(seen) = self.seen(&target)
                    && read_object(&path).as_ref() == Some(seen)
                {
                    let _ = std::fs::remove_file(&path);
                    // An empty kind folder goes too, as the directory driver tidies up.
                    if let Some(folder) = path.parent() {
                        let _ = std::fs::remove_dir(folder);
                    }
                }
            }
        }
    }
}

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A random uid in the form an API server gives.
fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
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

fn read_object(path: &Path) -> Option<Value> {
    serde_saphyr::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes `object` unless the file changed since it was read as `expected`; whether it wrote.
/// The caller holds the folder's lock, so the file cannot change between the two.
fn write_if_unchanged(path: &Path, expected: &Value, object: &Value) -> bool {
    read_object(path).as_ref() == Some(expected) && write(path, object)
}

/// Replaces the file in one step (readers never see half of it), readable by its owner only as
/// the directory driver writes; a folder deleted meanwhile (the namespace was dropped) makes the
/// write fail, which is what a real cluster would do.
fn write(path: &Path, object: &Value) -> bool {
    let Some(file_name) = path.file_name() else {
        return false;
    };
    let temporary = path.with_file_name(format!(
        ".{}.{}.controller.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let Ok(text) = serde_saphyr::to_string(object) else {
        return false;
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    if written.is_ok() && std::fs::rename(&temporary, path).is_ok() {
        return true;
    }
    let _ = std::fs::remove_file(&temporary);
    false
}
