//! A cluster kept as YAML files in a folder, one file per object.
//!
//! It lets books run, and be tested, without a Kubernetes cluster: a person (or a test) plays the
//! controllers by editing `status` in the files. Layout under the root:
//!
//! - `<namespace>/<kind>/<name>.yaml` for namespaced objects,
//! - `_cluster/<kind>/<name>.yaml` for cluster-scoped ones,
//!
//! where `<kind>` is the lowercase kind (`deployment`, `postgrescluster`). Each file holds exactly
//! the object, with sorted keys, so that the same object always gives the same bytes.
//!
//! Like an API server, it keeps `metadata.generation`: 1 when an object is created, one more on
//! every write that changes anything outside `metadata` and `status`, untouched by writes that
//! change nothing or only metadata. Waits compare it with the `status.observedGeneration` a
//! controller writes, so a stand-in controller must write that too.
//!
//! `status` belongs to the controllers: `apply`, `create_if_absent` and `merge_patch` never write
//! it, as an API server ignores `status` in writes to the main resource of a kind with a status
//! subresource. Every kind is treated so, since a folder cannot know which kinds have one (the
//! kinds books deal with do); whoever plays a controller writes `status` into the file itself.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

mod lock;

pub use self::lock::{FolderLock, LOCK_FILE};
use super::{
    ApplyOutcome, Cluster, ClusterError, DeleteOutcome, ObjectRef, Selector, WaitProgress,
    WaitSpec, simulated::Controllers, wait::Waiter,
};

/// Folder of cluster-scoped objects; never a valid namespace, because Kubernetes names have no
/// underscores.
const CLUSTER_SCOPED: &str = "_cluster";

/// How often a wait reads the object again: fast enough for tests, cheap for a folder.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How often a wait reads the pods again while they matter: a folder of pods is read whole.
const POD_INTERVAL: Duration = Duration::from_millis(200);

/// The parts of an object that are not its spec: changing them does not make a new generation.
const NOT_SPEC: [&str; 2] = ["metadata", "status"];

/// How many times a write recreates a folder that a concurrent delete removed as empty.
const WRITE_ATTEMPTS: u32 = 3;

/// Mode of every object file: readable by the runner's user only. A Secret's data is merely
/// base64, and other objects can carry credentials too (a ConfigMap holding a configuration
/// file); other users of the machine have no business reading the cluster's store.
const OBJECT_FILE_MODE: u32 = 0o600;

/// A cluster stored as YAML files under a root folder (see the module docs for the layout).
///
/// Writes into one folder are serialized by its [`FolderLock`], across instances and processes,
/// so that an apply, a patch and a simulated controller never lose each other's changes; edits
/// made to the files from outside are picked up on the next read.
#[derive(Debug)]
pub struct DirectoryCluster {
    root: PathBuf,
    /// On a simulated cluster, this driver's share of the controllers playing on the folder:
    /// they run as long as a driver holds them.
    _controllers: Option<Arc<Controllers>>,
}

/// What a file holds, keeping an unreadable file apart from I/O errors: a waiter retries the
/// former, because a person may be saving the file at that very moment.
enum Stored {
    Absent,
    Object(Value),
    Unreadable(String),
}

impl Stored {
    /// The object, treating an unreadable file as an error, as every operation but `wait_for`
    /// does.
    fn into_object(self) -> Result<Option<Value>, ClusterError> {
        match self {
            Self::Absent => Ok(None),
            Self::Object(object) => Ok(Some(object)),
            Self::Unreadable(problem) => Err(ClusterError::Unavailable(problem)),
        }
    }
}

impl DirectoryCluster {
    /// A cluster rooted at `root`; the folder is created by the first write, so that a fresh
    /// path needs no setup.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            _controllers: None,
        }
    }

    /// A driver of the simulated cluster at `root`, keeping `controllers` (those of `root`)
    /// running while it lives.
    pub fn simulated(root: impl Into<PathBuf>, controllers: Arc<Controllers>) -> Self {
        Self {
            _controllers: Some(controllers),
            ..Self::new(root)
        }
    }

    /// The folder holding the objects, for callers that show it to users or clean it up.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of `target`, refusing kinds, names and namespaces that could reach outside the
    /// root (separators, `.`/`..`, a leading dot, empty) or collide with the `_cluster` folder.
    pub fn path_of(&self, target: &ObjectRef) -> Result<PathBuf, ClusterError> {
        object_path(&self.root, target)
    }

    /// Reads the file at `path`.
    async fn load(path: &Path) -> Result<Stored, ClusterError> {
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Stored::Absent),
            Err(error) => return Err(io_error(path, &error)),
        };
        // Snippets are left out of the message: they would quote the file, which may be a Secret.
        match serde_saphyr::from_str::<Value>(&text) {
            Ok(object @ Value::Object(_)) => Ok(Stored::Object(object)),
            Ok(_) => Ok(Stored::Unreadable(format!(
                "{}: does not hold a mapping",
                path.display()
            ))),
            Err(error) => Ok(Stored::Unreadable(format!(
                "{}: not valid YAML: {}",
                path.display(),
                error.without_snippet()
            ))),
        }
    }
}

#[async_trait]
impl Cluster for DirectoryCluster {
    /// Deep-merges the manifest into the stored object. `force` has no effect: there is a single
    /// field manager, so there are no conflicts to force.
    async fn apply(&self, manifest: &Value, _force: bool) -> Result<ApplyOutcome, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        let path = self.path_of(&target)?;
        let _writing = FolderLock::acquire_async(&self.root).await?;
        let Some(stored) = Self::load(&path).await?.into_object()? else {
            write_atomically(&path, &created(manifest)).await?;
            return Ok(ApplyOutcome::Created);
        };
        let mut merged = stored.clone();
        deep_merge(&mut merged, &without_status(manifest));
        let Some(merged) = next_generation(&stored, merged) else {
            return Ok(ApplyOutcome::Unchanged);
        };
        write_atomically(&path, &merged).await?;
        Ok(ApplyOutcome::Configured)
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        let path = self.path_of(&target)?;
        let _writing = FolderLock::acquire_async(&self.root).await?;
        if tokio::fs::try_exists(&path)
            .await
            .map_err(|error| io_error(&path, &error))?
        {
            return Ok(false);
        }
        // A hard link fails when the target exists, unlike a rename: another process creating
        // the same object at the same time keeps its version, and readers never see half a file.
        let temp = write_temp(&path, &created(manifest)).await?;
        let linked = tokio::fs::hard_link(&temp, &path).await;
        remove_temp(&temp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(io_error(&path, &error)),
        }
    }

    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError> {
        if !patch.is_object() {
            return Err(invalid(target, "a merge patch must be a mapping"));
        }
        let path = self.path_of(target)?;
        let _writing = FolderLock::acquire_async(&self.root).await?;
        let Some(stored) = Self::load(&path).await?.into_object()? else {
            return Err(ClusterError::NotFound(target.to_string()));
        };
        let mut patched = stored.clone();
        apply_merge_patch(&mut patched, &without_status(patch));
        let Some(patched) = next_generation(&stored, patched) else {
            return Ok(());
        };
        // The file's place is its identity: a patch moving it would leave it at the wrong path.
        let stays = ObjectRef::of_manifest(&patched)
            .and_then(|patched| self.path_of(&patched))
            .is_ok_and(|patched_path| patched_path == path);
        if !stays {
            return Err(invalid(
                target,
                "a merge patch cannot change or remove apiVersion, kind, metadata.name or \
                 metadata.namespace",
            ));
        }
        write_atomically(&path, &patched).await
    }

    /// Deleting a `Namespace` also removes its folder, i.e. every object in it, as Kubernetes
    /// does; the folder goes first so that a delete interrupted halfway is finished by a retry.
    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        let path = self.path_of(target)?;
        let _writing = FolderLock::acquire_async(&self.root).await?;
        if target.kind == "Namespace" {
            // `path_of` accepted the name as a single safe path segment other than `_cluster`.
            let folder = self.root.join(&target.name);
            match tokio::fs::remove_dir_all(&folder).await {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error(&folder, &error)),
            }
        }
        let outcome = match tokio::fs::remove_file(&path).await {
            Ok(()) => DeleteOutcome::Deleted,
            Err(error) if error.kind() == io::ErrorKind::NotFound => DeleteOutcome::NotFound,
            Err(error) => return Err(io_error(&path, &error)),
        };
        // Tidy up the kind folder, then the namespace folder, if they are now empty; a folder
        // that is not empty (or already gone) simply stays as it is.
        let kind_folder = path.parent();
        for folder in [kind_folder, kind_folder.and_then(Path::parent)]
            .into_iter()
            .flatten()
        {
            if folder == self.root || tokio::fs::remove_dir(folder).await.is_err() {
                break;
            }
        }
        Ok(outcome)
    }

    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        Self::load(&self.path_of(target)?).await?.into_object()
    }

    /// Polls the file; a file that does not parse (someone is saving it) is read again rather
    /// than ending the wait. Cancel-safe: it holds no lock and writes nothing.
    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        let path = self.path_of(target)?;
        let mut waiter = Waiter::new(target, wait, progress, POD_INTERVAL);
        let mut last_problem = None;
        loop {
            let ended = match Self::load(&path).await? {
                Stored::Absent => waiter.observe(self, None).await,
                Stored::Object(object) => waiter.observe(self, Some(&object)).await,
                Stored::Unreadable(problem) => {
                    if last_problem.as_ref() != Some(&problem) {
                        tracing::warn!(object = %target, %problem, "waiting for a readable object");
                        last_problem = Some(problem);
                    }
                    None
                }
            };
            if let Some(ended) = ended {
                return ended;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Reads every file of the kind's folder in the namespace; a file being saved (it does
    /// not parse) is left out of this listing. The apiVersion is not compared, as the layout
    /// files objects by kind only.
    async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError> {
        // Any object of the kind in the namespace tells the folder, and checks its names.
        let probe = ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: "probe".to_owned(),
        };
        let path = self.path_of(&probe)?;
        let Some(folder) = path.parent() else {
            return Ok(Vec::new());
        };
        let mut entries = match tokio::fs::read_dir(folder).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error(folder, &error)),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|error| io_error(folder, &error))?
        {
            let file = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Temporary files of writers are hidden or end otherwise.
            if name.starts_with('.') || !name.ends_with(".yaml") {
                continue;
            }
            if let Stored::Object(object) = Self::load(&file).await?
                && selector.matches(object.pointer("/metadata/labels"))
            {
                found.push(object);
            }
        }
        Ok(found)
    }
}

/// One path segment from a kind, name or namespace, if it stays one segment inside its folder.
fn safe_segment<'a>(
    target: &ObjectRef,
    field: &str,
    value: &'a str,
) -> Result<&'a str, ClusterError> {
    let unsafe_segment =
        value.is_empty() || value.starts_with('.') || value.contains(['/', '\\', '\0']);
    if unsafe_segment {
        return Err(invalid(
            target,
            &format!("{field} {value:?} cannot be used as a file name"),
        ));
    }
    Ok(value)
}

/// An `InvalidManifest` error about `target`.
fn invalid(target: &ObjectRef, problem: &str) -> ClusterError {
    ClusterError::InvalidManifest(format!("{target}: {problem}"))
}

/// An I/O error, naming the file so the user can look at it.
fn io_error(path: &Path, error: &io::Error) -> ClusterError {
    ClusterError::Unavailable(format!("{}: {error}", path.display()))
}

/// `manifest` as an API server stores it when creating it: generation 1, no status.
fn created(manifest: &Value) -> Value {
    let mut object = without_status(manifest);
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("generation".to_owned(), Value::from(1));
    }
    object
}

/// A manifest or patch without the `status` that writes must not set (see the module docs).
fn without_status(manifest: &Value) -> Value {
    let mut manifest = manifest.clone();
    if let Some(fields) = manifest.as_object_mut() {
        fields.remove("status");
    }
    manifest
}

/// The object to write after `stored` became `written`, with the generation an API server
/// would give it, or `None` when nothing changed. A write cannot set the generation; an object
/// written by hand without one counts as generation 1.
fn next_generation(stored: &Value, mut written: Value) -> Option<Value> {
    let generation = stored
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let changed = spec_of(stored) != spec_of(&written);
    let next = if changed { generation + 1 } else { generation };
    // What the write asked for the generation is dropped first, so it cannot count as a change.
    if let Some(metadata) = written.get_mut("metadata").and_then(Value::as_object_mut) {
        match stored.pointer("/metadata/generation") {
            Some(kept) => metadata.insert("generation".to_owned(), kept.clone()),
            None => metadata.remove("generation"),
        };
    }
    if written == *stored {
        return None;
    }
    if let Some(metadata) = written.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("generation".to_owned(), Value::from(next));
    }
    Some(written)
}

/// An object without the parts that are not its spec.
fn spec_of(object: &Value) -> Value {
    let mut spec = object.clone();
    if let Some(fields) = spec.as_object_mut() {
        fields.retain(|key, _| !NOT_SPEC.contains(&key.as_str()));
    }
    spec
}

/// Server-side apply for a single manager: mappings merge key by key, anything else in the
/// manifest replaces what is stored.
fn deep_merge(stored: &mut Value, manifest: &Value) {
    match (stored, manifest) {
        (Value::Object(stored), Value::Object(manifest)) => {
            for (key, value) in manifest {
                match stored.get_mut(key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        stored.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (stored, manifest) => *stored = manifest.clone(),
    }
}

/// RFC 7386 JSON merge patch: mappings merge recursively, `null` removes a key, anything else
/// replaces.
fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                apply_merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Writes `object` to a fresh temporary file next to `path` (creating the folders) and returns
/// its path; the caller moves it into place.
async fn write_temp(path: &Path, object: &Value) -> Result<PathBuf, ClusterError> {
    let (Some(folder), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Err(ClusterError::Unavailable(format!(
            "{}: not a file path",
            path.display()
        )));
    };
    let text = serde_saphyr::to_string(object).map_err(|error| {
        ClusterError::InvalidManifest(format!(
            "{}: cannot be written as YAML: {error}",
            path.display()
        ))
    })?;
    let temp = folder.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut attempt = 1;
    loop {
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(|error| io_error(folder, &error))?;
        match create_owner_only(&temp, &text).await {
            Ok(()) => return Ok(temp),
            // A concurrent delete removed the folder once it was empty: create it again.
            Err(error) if error.kind() == io::ErrorKind::NotFound && attempt < WRITE_ATTEMPTS => {
                attempt += 1;
            }
            Err(error) => return Err(io_error(&temp, &error)),
        }
    }
}

/// Creates the new file `path` holding `text`, with [`OBJECT_FILE_MODE`] from its creation on,
/// so that it is never readable by others, not even for a moment. `create_new`: the name is
/// fresh, and a file or link someone planted there is refused instead of written through.
async fn create_owner_only(path: &Path, text: &str) -> io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OBJECT_FILE_MODE)
        .open(path)
        .await?;
    file.write_all(text.as_bytes()).await?;
    // A tokio file finishes its last write in the background; the caller renames it next.
    file.flush().await
}

/// Replaces the file at `path` with `object` in one step, so that readers (a waiter, a person)
/// see the old or the new object, never half of one.
async fn write_atomically(path: &Path, object: &Value) -> Result<(), ClusterError> {
    let temp = write_temp(path, object).await?;
    if let Err(error) = tokio::fs::rename(&temp, path).await {
        remove_temp(&temp).await;
        return Err(io_error(path, &error));
    }
    Ok(())
}

/// Removes a temporary file; a failure only leaves a stray hidden file, so it is logged, not
/// returned.
async fn remove_temp(temp: &Path) {
    if let Err(error) = tokio::fs::remove_file(temp).await {
        tracing::warn!(path = %temp.display(), %error, "could not remove a temporary file");
    }
}

/// The file of `target` in the cluster folder `root`, refusing kinds, names and namespaces that
/// could reach outside it (the directory driver's rule, which whoever writes into the folder
/// keeps: the simulated controllers too).
pub fn object_path(root: &Path, target: &ObjectRef) -> Result<PathBuf, ClusterError> {
    let kind = safe_segment(target, "kind", &target.kind)?.to_ascii_lowercase();
    let name = safe_segment(target, "metadata.name", &target.name)?;
    let scope = match &target.namespace {
        None => CLUSTER_SCOPED,
        Some(_) if target.kind == "Namespace" => {
            return Err(invalid(target, "a Namespace cannot have a namespace"));
        }
        Some(namespace) => safe_segment(target, "metadata.namespace", namespace)?,
    };
    // Deleting a Namespace removes the folder named after it, which must not be `_cluster`.
    let reserved = match &target.namespace {
        Some(_) => scope == CLUSTER_SCOPED,
        None => target.kind == "Namespace" && name == CLUSTER_SCOPED,
    };
    if reserved {
        return Err(invalid(target, "the namespace name `_cluster` is reserved"));
    }
    Ok(root.join(scope).join(kind).join(format!("{name}.yaml")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::cluster::Condition;

    fn deployment(replicas: u64) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}
        })
    }

    fn reference(manifest: &Value) -> ObjectRef {
        ObjectRef::of_manifest(manifest).unwrap()
    }

    fn with_generation(mut object: Value, generation: i64) -> Value {
        object["metadata"]["generation"] = json!(generation);
        object
    }

    fn read_yaml(path: &Path) -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn files_under(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut folders = vec![root.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if !path.ends_with(LOCK_FILE) {
                    found.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    #[tokio::test]
    async fn apply_creates_the_file_where_documented() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        assert_eq!(cluster.root(), dir.path());
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        assert_eq!(
            cluster.apply(&namespace, false).await.unwrap(),
            ApplyOutcome::Created
        );
        assert_eq!(
            cluster.apply(&deployment(2), false).await.unwrap(),
            ApplyOutcome::Created
        );

        assert_eq!(
            files_under(dir.path()),
            ["_cluster/namespace/shop.yaml", "shop/deployment/web.yaml"]
        );
        let path = dir.path().join("shop/deployment/web.yaml");
        assert_eq!(cluster.path_of(&reference(&deployment(2))).unwrap(), path);
        let mut stored = deployment(2);
        stored["metadata"]["generation"] = json!(1);
        assert_eq!(read_yaml(&path), stored);
        assert_eq!(
            cluster.get(&reference(&deployment(2))).await.unwrap(),
            Some(stored)
        );
        // Sorted keys: the same object always gives the same bytes.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"),
            "{text}"
        );
        let other = tempfile::tempdir().unwrap();
        DirectoryCluster::new(other.path())
            .apply(&deployment(2), true)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(other.path().join("shop/deployment/web.yaml")).unwrap(),
            text.as_bytes()
        );
    }

    #[tokio::test]
    async fn an_identical_apply_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        cluster.apply(&deployment(2), false).await.unwrap();
        let path = dir.path().join("shop/deployment/web.yaml");
        let before = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;

        assert_eq!(
            cluster.apply(&deployment(2), false).await.unwrap(),
            ApplyOutcome::Unchanged
        );
        // A subset of the stored fields is unchanged too.
        let subset = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}});
        assert_eq!(
            cluster.apply(&subset, true).await.unwrap(),
            ApplyOutcome::Unchanged
        );

        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before.0);
        assert_eq!(after.modified().unwrap(), before.1.modified().unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(after.ino(), before.1.ino(), "the file was replaced");
        }
        assert_eq!(
            files_under(dir.path()),
            ["shop/deployment/web.yaml"],
            "no temporary file is left"
        );
    }

    #[tokio::test]
    async fn a_changed_apply_keeps_the_status_of_the_controller() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        cluster.apply(&deployment(2), false).await.unwrap();
        let path = dir.path().join("shop/deployment/web.yaml");
        let mut controlled = deployment(2);
        controlled["status"] = json!({"availableReplicas": 2});
        std::fs::write(&path, serde_saphyr::to_string(&controlled).unwrap()).unwrap();

        let mut changed = deployment(3);
        changed["metadata"]["labels"] = json!({"tier": "front"});
        changed["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:2"}]);
        assert_eq!(
            cluster.apply(&changed, false).await.unwrap(),
            ApplyOutcome::Configured
        );

        let stored = read_yaml(&path);
        assert_eq!(stored["spec"]["replicas"], 3);
        assert_eq!(stored["status"], json!({"availableReplicas": 2}));
        // Mappings merge, arrays replace.
        assert_eq!(
            stored["metadata"]["labels"],
            json!({"app": "web", "tier": "front"})
        );
        assert_eq!(
            stored["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "nginx:2"}])
        );
    }

    #[tokio::test]
    async fn merge_patch_sets_and_removes_fields() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(2));
        cluster.apply(&deployment(2), false).await.unwrap();

        cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0, "shutdown": true}}))
            .await
            .unwrap();
        let stored = cluster.get(&target).await.unwrap().unwrap();
        assert_eq!(stored["spec"]["replicas"], 0);
        assert_eq!(stored["spec"]["shutdown"], true);
        assert_eq!(stored["metadata"]["labels"], json!({"app": "web"}));

        cluster
            .merge_patch(&target, &json!({"metadata": {"labels": {"app": null}}}))
            .await
            .unwrap();
        let stored = cluster.get(&target).await.unwrap().unwrap();
        assert_eq!(stored["metadata"]["labels"], json!({}));

        // A patch that changes nothing does not rewrite the file.
        let path = cluster.path_of(&target).unwrap();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0, "gone": null}}))
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );

        let rename = json!({"metadata": {"name": "other"}});
        assert!(matches!(
            cluster.merge_patch(&target, &rename).await,
            Err(ClusterError::InvalidManifest(_))
        ));
        assert!(matches!(
            cluster.merge_patch(&target, &json!([1])).await,
            Err(ClusterError::InvalidManifest(_))
        ));
    }

    #[tokio::test]
    async fn merge_patch_of_a_missing_object_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(1));
        let error = cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0}}))
            .await
            .unwrap_err();
        assert_eq!(error, ClusterError::NotFound("Deployment shop/web".into()));
        assert!(!dir.path().join("shop").exists());
    }

    #[tokio::test]
    async fn delete_is_idempotent_and_tidies_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(1));
        cluster.apply(&deployment(1), false).await.unwrap();
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}});
        cluster.apply(&service, false).await.unwrap();

        assert_eq!(
            cluster.delete(&target).await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(cluster.get(&target).await.unwrap(), None);
        assert_eq!(
            cluster.delete(&target).await.unwrap(),
            DeleteOutcome::NotFound
        );
        assert!(!dir.path().join("shop/deployment").exists());
        assert_eq!(files_under(dir.path()), ["shop/service/web.yaml"]);

        cluster.delete(&reference(&service)).await.unwrap();
        assert!(!dir.path().join("shop").exists());
        assert!(dir.path().exists());
    }

    #[tokio::test]
    async fn deleting_a_namespace_deletes_its_objects() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}});
        for manifest in [&namespace, &deployment(1), &other] {
            cluster.apply(manifest, false).await.unwrap();
        }

        assert_eq!(
            cluster.delete(&reference(&namespace)).await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(files_under(dir.path()), ["other/configmap/c.yaml"]);
        assert_eq!(cluster.get(&reference(&deployment(1))).await.unwrap(), None);
        assert_eq!(
            cluster.delete(&reference(&namespace)).await.unwrap(),
            DeleteOutcome::NotFound
        );
    }

    #[tokio::test]
    async fn create_if_absent_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let secret = |password: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                   "stringData": {"password": password}})
        };
        assert!(cluster.create_if_absent(&secret("first")).await.unwrap());
        assert!(!cluster.create_if_absent(&secret("second")).await.unwrap());
        assert_eq!(
            cluster.get(&reference(&secret("x"))).await.unwrap(),
            Some(with_generation(secret("first"), 1))
        );
        assert_eq!(files_under(dir.path()), ["shop/secret/db.yaml"]);

        // Racing creators (separate instances, so no shared lock): exactly one wins.
        let racers: Vec<_> = (0..8)
            .map(|index| {
                let cluster = DirectoryCluster::new(dir.path());
                let mut manifest = secret(&format!("racer-{index}"));
                manifest["metadata"]["name"] = json!("race");
                tokio::spawn(async move { cluster.create_if_absent(&manifest).await.unwrap() })
            })
            .collect();
        let mut created = 0;
        for racer in racers {
            created += usize::from(racer.await.unwrap());
        }
        assert_eq!(created, 1);
        assert_eq!(
            files_under(dir.path()),
            ["shop/secret/db.yaml", "shop/secret/race.yaml"]
        );
    }

    /// Issue #15: a Secret written to the folder is readable by the runner's user only, from
    /// the moment its file exists, however it was written.
    #[tokio::test]
    async fn object_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let secret = |name: &str, password: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "shop"},
                   "stringData": {"password": password}})
        };
        // In octal, as `ls -l` and chmod speak of modes.
        let mode_of = |name: &str| {
            let path = dir.path().join(format!("shop/secret/{name}.yaml"));
            format!(
                "{:o}",
                std::fs::metadata(path).unwrap().permissions().mode() & 0o777
            )
        };

        cluster.apply(&secret("applied", "a"), false).await.unwrap();
        assert_eq!(mode_of("applied"), "600", "created by apply");
        cluster.apply(&secret("applied", "b"), false).await.unwrap();
        assert_eq!(mode_of("applied"), "600", "rewritten by apply");
        let patch = json!({"stringData": {"password": "c"}});
        cluster
            .merge_patch(&reference(&secret("applied", "")), &patch)
            .await
            .unwrap();
        assert_eq!(mode_of("applied"), "600", "rewritten by merge_patch");
        assert!(
            cluster
                .create_if_absent(&secret("created", "d"))
                .await
                .unwrap()
        );
        assert_eq!(mode_of("created"), "600", "created by create_if_absent");
        assert_eq!(
            files_under(dir.path()),
            ["shop/secret/applied.yaml", "shop/secret/created.yaml"],
            "no temporary file is left behind"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_for_returns_once_the_controller_writes_status() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Arc::new(DirectoryCluster::new(dir.path()));
        cluster.apply(&deployment(2), false).await.unwrap();
        let target = reference(&deployment(2));
        let available = Condition::Available;

        let pending = tokio::time::timeout(
            Duration::from_millis(300),
            cluster.wait_for(&target, &available),
        )
        .await;
        assert!(
            pending.is_err(),
            "the wait ended before any status was written"
        );

        let path = cluster.path_of(&target).unwrap();
        let controller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A half-saved file first: the wait must read again rather than fail.
            std::fs::write(&path, "apiVersion: [apps\n").unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut object = deployment(2);
            object["metadata"]["generation"] = json!(1);
            object["status"] = json!({"observedGeneration": 1, "replicas": 2,
                                      "updatedReplicas": 2, "availableReplicas": 2});
            std::fs::write(&path, serde_saphyr::to_string(&object).unwrap()).unwrap();
        });
        tokio::time::timeout(
            Duration::from_secs(5),
            cluster.wait_for(&target, &available),
        )
        .await
        .expect("the wait did not see the status")
        .unwrap();
        controller.await.unwrap();

        let gone = Condition::Gone;
        let waiter = {
            let cluster = Arc::clone(&cluster);
            let target = target.clone();
            tokio::spawn(async move { cluster.wait_for(&target, &gone).await })
        };
        cluster.delete(&target).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn list_reads_the_objects_of_a_kind_whose_labels_match() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let web = Selector::matching_labels([("app", "web")]).unwrap();
        assert_eq!(
            cluster.list("shop", "v1", "Pod", &web).await.unwrap(),
            Vec::<Value>::new(),
            "no folder yet"
        );
        let pod = |name: &str, app: &str| {
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}}})
        };
        for manifest in [pod("web-1", "web"), pod("web-2", "web"), pod("db-0", "db")] {
            cluster.apply(&manifest, false).await.unwrap();
        }
        let mut other = pod("web-3", "web");
        other["metadata"]["namespace"] = json!("other");
        cluster.apply(&other, false).await.unwrap();
        // A file being saved, and a writer's temporary file, are not objects.
        let folder = dir.path().join("shop/pod");
        std::fs::write(folder.join("half.yaml"), "metadata: [\n").unwrap();
        std::fs::write(folder.join(".web-9.yaml.tmp"), "{}").unwrap();

        let mut names: Vec<String> = cluster
            .list("shop", "v1", "Pod", &web)
            .await
            .unwrap()
            .iter()
            .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["web-1", "web-2"]);
        assert!(matches!(
            cluster.list("..", "v1", "Pod", &web).await,
            Err(ClusterError::InvalidManifest(_))
        ));
    }

    #[tokio::test]
    async fn get_reports_an_unreadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(1));
        let path = cluster.path_of(&target).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "password: [hunter2\n").unwrap();
        let Err(ClusterError::Unavailable(message)) = cluster.get(&target).await else {
            panic!("expected Unavailable");
        };
        assert!(
            message.contains("web.yaml") && !message.contains("hunter2"),
            "{message}"
        );
        std::fs::write(&path, "- a list\n").unwrap();
        assert!(matches!(
            cluster.apply(&deployment(1), false).await,
            Err(ClusterError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn names_that_leave_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path().join("root"));
        let manifest = |kind: &str, namespace: Option<&str>, name: &str| {
            let mut manifest =
                json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
            if let Some(namespace) = namespace {
                manifest["metadata"]["namespace"] = json!(namespace);
            }
            manifest
        };
        let refused = [
            manifest("ConfigMap", Some("shop"), "../../escape"),
            manifest("ConfigMap", Some("shop"), ".."),
            manifest("ConfigMap", Some("shop"), "a/b"),
            manifest("ConfigMap", Some("shop"), "a\\b"),
            manifest("ConfigMap", Some("shop"), ".hidden"),
            manifest("ConfigMap", Some(".."), "c"),
            manifest("ConfigMap", Some("../x"), "c"),
            manifest("ConfigMap", Some("_cluster"), "c"),
            manifest("../Secret", Some("shop"), "c"),
            manifest("Namespace", None, ".."),
            manifest("Namespace", None, "_cluster"),
        ];
        for manifest in &refused {
            let applied = cluster.apply(manifest, false).await;
            assert!(
                matches!(applied, Err(ClusterError::InvalidManifest(_))),
                "{manifest}: {applied:?}"
            );
            assert!(matches!(
                cluster.create_if_absent(manifest).await,
                Err(ClusterError::InvalidManifest(_))
            ));
            let target = reference(manifest);
            assert!(matches!(
                cluster.delete(&target).await,
                Err(ClusterError::InvalidManifest(_))
            ));
            assert!(matches!(
                cluster.get(&target).await,
                Err(ClusterError::InvalidManifest(_))
            ));
        }
        let namespaced_namespace = ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: Some("a".into()),
            name: "b".into(),
        };
        assert!(cluster.path_of(&namespaced_namespace).is_err());
        assert_eq!(files_under(dir.path()), Vec::<String>::new());
    }

    fn generation(cluster: &DirectoryCluster, target: &ObjectRef) -> Value {
        let path = cluster.path_of(target).unwrap();
        read_yaml(&path)["metadata"]["generation"].clone()
    }

    #[tokio::test]
    async fn the_generation_counts_spec_changes_as_an_api_server_does() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(1));
        // A generation in the manifest is the client's wish, which the server ignores.
        let mut claimed = deployment(1);
        claimed["metadata"]["generation"] = json!(7);
        assert_eq!(
            cluster.apply(&claimed, false).await.unwrap(),
            ApplyOutcome::Created
        );
        assert_eq!(generation(&cluster, &target), 1, "created");

        assert_eq!(
            cluster.apply(&deployment(1), false).await.unwrap(),
            ApplyOutcome::Unchanged
        );
        assert_eq!(generation(&cluster, &target), 1, "the same apply");

        let mut relabelled = deployment(1);
        relabelled["metadata"]["labels"] = json!({"tier": "front"});
        assert_eq!(
            cluster.apply(&relabelled, false).await.unwrap(),
            ApplyOutcome::Configured
        );
        assert_eq!(generation(&cluster, &target), 1, "metadata only");

        let mut new_image = deployment(1);
        new_image["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:2"}]);
        cluster.apply(&new_image, false).await.unwrap();
        assert_eq!(generation(&cluster, &target), 2, "a new image");
        cluster.apply(&deployment(3), false).await.unwrap();
        assert_eq!(generation(&cluster, &target), 3, "new replicas");

        cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0}}))
            .await
            .unwrap();
        assert_eq!(generation(&cluster, &target), 4, "merge patch of the spec");
        cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0}}))
            .await
            .unwrap();
        cluster
            .merge_patch(&target, &json!({"metadata": {"annotations": {"a": "b"}}}))
            .await
            .unwrap();
        assert_eq!(generation(&cluster, &target), 4, "no spec change");
        cluster
            .merge_patch(&target, &json!({"metadata": {"generation": 1}}))
            .await
            .unwrap();
        assert_eq!(generation(&cluster, &target), 4, "a patch cannot set it");

        // The controller's status edit is no spec change either.
        let path = cluster.path_of(&target).unwrap();
        let mut controlled = read_yaml(&path);
        controlled["status"] = json!({"observedGeneration": 4, "replicas": 0});
        std::fs::write(&path, serde_saphyr::to_string(&controlled).unwrap()).unwrap();
        cluster
            .merge_patch(&target, &json!({"spec": {"replicas": 0}}))
            .await
            .unwrap();
        assert_eq!(read_yaml(&path), controlled);

        // An object written by hand without a generation is at generation 1.
        let mut by_hand = deployment(1);
        by_hand["metadata"]["name"] = json!("hand");
        let hand = reference(&by_hand);
        let hand_path = cluster.path_of(&hand).unwrap();
        std::fs::write(&hand_path, serde_saphyr::to_string(&by_hand).unwrap()).unwrap();
        by_hand["spec"]["replicas"] = json!(2);
        cluster.apply(&by_hand, false).await.unwrap();
        assert_eq!(generation(&cluster, &hand), 2);
    }

    #[tokio::test]
    async fn writes_never_set_the_status_of_the_controller() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let target = reference(&deployment(1));
        let mut claiming = deployment(1);
        claiming["status"] = json!({"availableReplicas": 1});
        cluster.apply(&claiming, false).await.unwrap();
        assert_eq!(
            cluster.get(&target).await.unwrap().unwrap()["status"],
            Value::Null
        );
        assert!(
            cluster
                .create_if_absent(&{
                    let mut other = claiming.clone();
                    other["metadata"]["name"] = json!("other");
                    other
                })
                .await
                .unwrap()
        );
        let other = ObjectRef {
            name: "other".into(),
            ..target.clone()
        };
        assert_eq!(
            cluster.get(&other).await.unwrap().unwrap()["status"],
            Value::Null
        );

        let path = cluster.path_of(&target).unwrap();
        let mut controlled = read_yaml(&path);
        controlled["status"] = json!({"availableReplicas": 0});
        std::fs::write(&path, serde_saphyr::to_string(&controlled).unwrap()).unwrap();
        assert_eq!(
            cluster.apply(&claiming, false).await.unwrap(),
            ApplyOutcome::Unchanged
        );
        cluster
            .merge_patch(&target, &json!({"status": null}))
            .await
            .unwrap();
        cluster
            .merge_patch(&target, &json!({"status": {"availableReplicas": 1}}))
            .await
            .unwrap();
        assert_eq!(read_yaml(&path), controlled);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_applies_of_different_objects_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Arc::new(DirectoryCluster::new(dir.path()));
        let tasks: Vec<_> = (0..16)
            .map(|index| {
                let cluster = Arc::clone(&cluster);
                tokio::spawn(async move {
                    let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": format!("c{index}"), "namespace": "shop"},
                                          "data": {"index": index.to_string()}});
                    cluster.apply(&manifest, false).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), ApplyOutcome::Created);
        }
        assert_eq!(files_under(dir.path()).len(), 16);
        let stored = read_yaml(&dir.path().join("shop/configmap/c7.yaml"));
        assert_eq!(stored["data"]["index"], "7");
    }
}
