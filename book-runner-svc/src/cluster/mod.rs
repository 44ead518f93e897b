//! Clusters a job's steps act on, behind one trait so that drivers are interchangeable.
//!
//! Objects are Kubernetes manifests held as JSON values (YAML is parsed into the same shape).
//! Drivers: [`directory`] (a folder of YAML files, one per object) and [`kubernetes`] (a real
//! API server through the kube crate); [`wait`] is what their waits share.

mod condition;
pub mod confined;
pub mod directory;
pub mod kubernetes;
mod selector;
pub mod simulated;
pub mod simulation;
pub mod wait;

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;

pub use self::{
    condition::Condition,
    selector::Selector,
    wait::{Verdict, WaitProgress, WaitSpec},
};
use crate::domain::confinement::{KNOWN_CLUSTER_SCOPED, ObjectScope};

/// Identifies one object in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// `apps/v1`, `v1`, `postgres-operator.crunchydata.com/v1beta1`, ...
    pub api_version: String,
    /// `Deployment`, `Namespace`, `PostgresCluster`, ...
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (Namespace, ClusterRole, ...).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// Reads the reference of a manifest (`apiVersion`, `kind`, `metadata.name`,
    /// `metadata.namespace`), refusing a manifest that lacks one of the required ones.
    pub fn of_manifest(manifest: &Value) -> Result<Self, ClusterError> {
        if !manifest.is_object() {
            return Err(ClusterError::InvalidManifest(
                "a manifest must be a mapping with apiVersion, kind and metadata".to_owned(),
            ));
        }
        let api_version = required_text(manifest.get("apiVersion"), "apiVersion")?;
        let kind = required_text(manifest.get("kind"), "kind")?;
        let metadata = manifest.get("metadata");
        let name = required_text(
            metadata.and_then(|metadata| metadata.get("name")),
            "metadata.name",
        )
        .map_err(|error| in_kind(&kind, error))?;
        // An empty namespace means "none", as it does for the Kubernetes API.
        let namespace = match metadata.and_then(|metadata| metadata.get("namespace")) {
            None | Some(Value::Null) => None,
            Some(Value::String(namespace)) if namespace.is_empty() => None,
            Some(Value::String(namespace)) => Some(namespace.clone()),
            Some(_) => {
                return Err(ClusterError::InvalidManifest(format!(
                    "{kind} {name}: metadata.namespace must be a string"
                )));
            }
        };
        if kind == "Namespace" && namespace.is_some() {
            return Err(ClusterError::InvalidManifest(format!(
                "Namespace {name}: a Namespace is cluster-scoped and cannot have metadata.namespace"
            )));
        }
        Ok(Self {
            api_version,
            kind,
            namespace,
            name,
        })
    }
}

/// A required, non-empty string field of a manifest.
fn required_text(value: Option<&Value>, field: &str) -> Result<String, ClusterError> {
    match value {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        None | Some(Value::Null) => Err(ClusterError::InvalidManifest(format!("missing {field}"))),
        Some(_) => Err(ClusterError::InvalidManifest(format!(
            "{field} must be a non-empty string"
        ))),
    }
}

/// Prefixes an error with the kind it is about, so the user knows which manifest is wrong.
fn in_kind(kind: &str, error: ClusterError) -> ClusterError {
    match error {
        ClusterError::InvalidManifest(message) => {
            ClusterError::InvalidManifest(format!("{kind}: {message}"))
        }
        other => other,
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind, namespace, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The object did not exist.
    Created,
    /// The object existed and changed.
    Configured,
    /// The object already had every applied field: nothing was written.
    Unchanged,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The object existed and was deleted.
    Deleted,
    /// There was nothing to delete (a success: deletes are idempotent).
    NotFound,
}

/// Why a cluster operation failed. Messages are shown to users in step failures: they name the
/// object and say what the cluster answered, and never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The manifest or patch is not usable (missing kind, name, not an object, ...).
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// The object to patch does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Another field manager owns a field this apply sets (and the step did not ask to force).
    #[error("{object}: conflict with field manager {manager:?} on {field}")]
    Conflict {
        /// The object.
        object: String,
        /// The other manager.
        manager: String,
        /// The contested field.
        field: String,
    },
    /// The cluster refused the request (e.g. `Forbidden`, `Invalid`), with its reason and message.
    #[error("{reason}: {message}")]
    Refused {
        /// Machine-readable reason, e.g. `Forbidden`.
        reason: String,
        /// The cluster's message.
        message: String,
    },
    /// The cluster could not be reached or read (I/O error, connection refused).
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// A wait ended because what it waited for can no longer come (see [`wait`]): its object
    /// and the cluster's reason. Retrying soon would most likely meet the same state.
    #[error("{object} failed: {reason}")]
    WaitFailed {
        /// The object waited for.
        object: String,
        /// Why, in the cluster's words, e.g. `pod web-7c9d/web: ImagePullBackOff: ...`.
        reason: String,
    },
}

/// One Kubernetes cluster (or a stand-in for one).
///
/// Every operation is idempotent, so that a step interrupted by a crash can run again.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Server-side apply of `manifest` with field manager `eyrie`: sets the fields the manifest
    /// has, keeps the ones it does not (e.g. `status`, or fields other managers own).
    async fn apply(&self, manifest: &Value, force: bool) -> Result<ApplyOutcome, ClusterError>;

    /// Creates `manifest` only if no object with its reference exists; returns whether it created
    /// it. Used for secrets with generated values, which must never be regenerated.
    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError>;

    /// JSON merge patch (RFC 7386) of an existing object; `NotFound` when it does not exist.
    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError>;

    /// Deletes the object if it exists.
    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError>;

    /// The object as stored, or `None`.
    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError>;

    /// Returns once `wait.condition` holds for the object (or its absence), or fails with
    /// [`ClusterError::WaitFailed`] once it can no longer hold: one of `wait.fail_when` holds,
    /// the controller gave up, or a pod of the current template is stuck (see [`wait`]).
    /// Tells `progress` what it waits for whenever that changes. Runs until then: the caller
    /// bounds it with the step's timeout and cancellation.
    ///
    /// Required of every driver and wrapper, so that none in a chain can drop `fail_when`.
    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError>;

    /// [`wait`](Self::wait) for `condition` alone, telling no one.
    async fn wait_for(
        &self,
        target: &ObjectRef,
        condition: &Condition,
    ) -> Result<(), ClusterError> {
        self.wait(target, &WaitSpec::new(condition.clone()), &|_| {})
            .await
    }

    /// The objects of `kind` in `namespace` whose labels match `selector` (how a wait finds a
    /// workload's pods).
    async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError>;

    /// Whether `target`'s kind is namespaced. By default from the list of well-known
    /// cluster-scoped kinds; a driver that can ask its API server does.
    async fn scope_of(&self, target: &ObjectRef) -> Result<ObjectScope, ClusterError> {
        Ok(if KNOWN_CLUSTER_SCOPED.contains(&target.kind.as_str()) {
            ObjectScope::Cluster
        } else {
            ObjectScope::Namespaced
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invalid(manifest: Value) -> String {
        match ObjectRef::of_manifest(&manifest) {
            Err(ClusterError::InvalidManifest(message)) => message,
            other => panic!("expected InvalidManifest, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_reference_of_a_manifest() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "web", "namespace": "shop"}});
        let reference = ObjectRef::of_manifest(&deployment).unwrap();
        assert_eq!(
            reference,
            ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
            }
        );
        assert_eq!(reference.to_string(), "Deployment shop/web");

        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let reference = ObjectRef::of_manifest(&namespace).unwrap();
        assert_eq!(reference.namespace, None);
        assert_eq!(reference.to_string(), "Namespace shop");

        let empty = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": ""}});
        assert_eq!(ObjectRef::of_manifest(&empty).unwrap().namespace, None);
        // Cluster-scoped kinds keep what the manifest says.
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                          "metadata": {"name": "r", "namespace": "x"}});
        assert_eq!(
            ObjectRef::of_manifest(&role).unwrap().namespace.as_deref(),
            Some("x")
        );
    }

    #[test]
    fn names_what_a_manifest_lacks() {
        assert!(invalid(json!([])).contains("mapping"));
        assert_eq!(
            invalid(json!({"kind": "Deployment", "metadata": {"name": "a"}})),
            "missing apiVersion"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "metadata": {"name": "a"}})),
            "missing kind"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": ""})),
            "kind must be a non-empty string"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Service"})),
            "Service: missing metadata.name"
        );
        assert_eq!(
            invalid(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": 3}})),
            "Service: metadata.name must be a non-empty string"
        );
        assert!(
            invalid(json!({"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": "a", "namespace": 1}}))
            .contains("metadata.namespace")
        );
        assert!(
            invalid(json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "a", "namespace": "b"}}))
            .contains("cluster-scoped")
        );
    }
}
