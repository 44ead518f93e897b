//! A simulation of the Kubernetes controllers and operators the built-in books wait for, writing
//! status exactly as the real ones do, so that waits can be tested (and books run) without a
//! cluster that runs pods.
//!
//! Pure functions: given one object, the other objects of its namespace, the [`Faults`] to play
//! and the time, [`reconcile`] returns the [`Change`]s its controller would make in one pass:
//! status writes, objects it creates, updates or deletes. One pass moves each object one small
//! step (a pod is scheduled, then its containers start, then it becomes ready; a StatefulSet
//! creates one pod at a time), so that every intermediate status is observable, as on a real
//! cluster. Callers apply the changes to what they stand for: a folder of files, an API server
//! that runs no controllers, or the in-memory [`store::Store`].
//!
//! Controllers, each after its upstream code (cited in its module):
//! - Kubernetes 1.20: [`deployment`] and [`replicaset`], [`statefulset`], [`job`], and
//!   [`pod`] (the scheduler and the kubelet);
//! - Crunchy PGO v5.8: [`pgo`] (PostgresCluster, with Patroni's role labels on pods);
//! - Percona Operator for MySQL (XtraDB Cluster) v1.19: [`pxc`].
//!
//! Faults are only what the caller passes: nothing in an object's content makes a fault.

pub mod deployment;
pub mod job;
pub mod object;
pub mod pgo;
pub mod pod;
pub mod pxc;
pub mod replicaset;
pub mod statefulset;
pub mod store;

use std::{collections::BTreeSet, time::SystemTime};

use serde_json::Value;

use self::object::{kind, reference};
use super::ObjectRef;

/// What a controller asks of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create this object (it carries the owner reference of the controller that makes it).
    Create(Value),
    /// Replace an existing object's spec and metadata by this content (status left alone). It
    /// carries the `resourceVersion` it was read with, so that a concurrent write makes it fail
    /// rather than be lost; the next pass tries again.
    Update(Value),
    /// Write the status of `target` (through the `/status` subresource).
    Status {
        /// The object.
        target: ObjectRef,
        /// Its whole new status.
        status: Value,
    },
    /// Delete the object.
    Delete(ObjectRef),
}

impl Change {
    /// The object the change is about.
    pub fn target(&self) -> ObjectRef {
        match self {
            Self::Create(object) | Self::Update(object) => reference(object),
            Self::Status { target, .. } | Self::Delete(target) => target.clone(),
        }
    }
}

/// Failures to play, chosen by the caller (a test, or whoever runs a simulated cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Images the kubelet cannot pull: containers using them wait in `ErrImagePull`, then
    /// `ImagePullBackOff`, with the kubelet's messages. Matched as written or as the full
    /// reference (`nginx` is `docker.io/library/nginx:latest`).
    pub unpullable_images: BTreeSet<String>,
    /// Images whose containers exit with code 1 as soon as they start: `CrashLoopBackOff` when
    /// the pod restarts them, a failed pod when it does not (`restartPolicy: Never`).
    pub crashing_images: BTreeSet<String>,
    /// Names of Jobs whose pods fail (exit code 1) instead of completing.
    pub failing_jobs: BTreeSet<String>,
}

impl Faults {
    /// Whether `image` cannot be pulled.
    pub fn unpullable(&self, image: &str) -> bool {
        matches_image(&self.unpullable_images, image)
    }

    /// Whether containers of `image` crash.
    pub fn crashing(&self, image: &str) -> bool {
        matches_image(&self.crashing_images, image)
    }
}

fn matches_image(images: &BTreeSet<String>, image: &str) -> bool {
    let full = pod::full_image_reference(image);
    images
        .iter()
        .any(|listed| listed == image || pod::full_image_reference(listed) == full)
}

/// A kind the simulation reads or writes, with the plural an API server serves it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `apps/v1`, `v1`, ...
    pub api_version: &'static str,
    /// `Deployment`, ...
    pub kind: &'static str,
    /// `deployments`, ...
    pub plural: &'static str,
}

/// Every kind the controllers look at: a caller lists these in the namespace for each pass.
pub const KINDS: &[Kind] = &[
    Kind {
        api_version: "apps/v1",
        kind: "Deployment",
        plural: "deployments",
    },
    Kind {
        api_version: "apps/v1",
        kind: "ReplicaSet",
        plural: "replicasets",
    },
    Kind {
        api_version: "apps/v1",
        kind: "StatefulSet",
        plural: "statefulsets",
    },
    Kind {
        api_version: "batch/v1",
        kind: "Job",
        plural: "jobs",
    },
    Kind {
        api_version: "v1",
        kind: "Pod",
        plural: "pods",
    },
    Kind {
        api_version: "v1",
        kind: "Secret",
        plural: "secrets",
    },
    Kind {
        api_version: pgo::API_VERSION,
        kind: pgo::KIND,
        plural: "postgresclusters",
    },
    Kind {
        api_version: pxc::API_VERSION,
        kind: pxc::KIND,
        plural: "perconaxtradbclusters",
    },
];

/// What every controller of a pass sees: the namespace as read at the start of the pass, the
/// faults to play and the time.
#[derive(Debug, Clone, Copy)]
pub struct Pass<'a> {
    /// Every object of the namespace (of the [`KINDS`]), including the one reconciled.
    pub objects: &'a [Value],
    /// The failures to play.
    pub faults: &'a Faults,
    /// The time of the pass.
    pub now: SystemTime,
}

impl Pass<'_> {
    /// The time of the pass as Kubernetes writes it.
    pub fn timestamp(&self) -> String {
        object::timestamp(self.now)
    }
}

/// The changes the controller of `object`'s kind makes in one pass, given every object of its
/// namespace (`namespace`, which includes `object`). Kinds without a simulated controller get
/// none.
pub fn reconcile(
    object: &Value,
    namespace: &[Value],
    faults: &Faults,
    now: SystemTime,
) -> Vec<Change> {
    let pass = Pass {
        objects: namespace,
        faults,
        now,
    };
    match kind(object) {
        "Deployment" => deployment::reconcile(object, &pass),
        "ReplicaSet" => replicaset::reconcile(object, &pass),
        "StatefulSet" => statefulset::reconcile(object, &pass),
        "Job" => job::reconcile(object, &pass),
        "Pod" => {
            let mut changes = pod::reconcile(object, &pass);
            // Patroni, inside PostgreSQL pods, labels them with their role once they run;
            // after the kubelet's step, so that both do not write the pod in the same pass.
            if changes.is_empty() {
                changes.extend(pgo::patroni(object, &pass));
            }
            changes
        }
        pgo::KIND => pgo::reconcile(object, &pass),
        pxc::KIND => pxc::reconcile(object, &pass),
        _ => Vec::new(),
    }
}

/// One pass of every controller over a namespace: the changes of [`reconcile`] for each object.
pub fn reconcile_namespace(objects: &[Value], faults: &Faults, now: SystemTime) -> Vec<Change> {
    objects
        .iter()
        .flat_map(|object| reconcile(object, objects, faults, now))
        .collect()
}

/// What the garbage collector of kube-controller-manager deletes in a namespace: objects that
/// have owners, none of which exists any more. For stores without one (a folder of files); an
/// API server's own collector does this by itself.
pub fn collect_garbage(objects: &[Value]) -> Vec<ObjectRef> {
    objects
        .iter()
        .filter(|object| {
            let owners = object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array);
            owners.is_some_and(|owners| {
                !owners.is_empty()
                    && owners.iter().all(|owner| {
                        !objects.iter().any(|candidate| {
                            kind(candidate) == owner["kind"]
                                && object::name(candidate) == owner["name"]
                                && match (
                                    owner["uid"].as_str(),
                                    candidate.pointer("/metadata/uid").and_then(Value::as_str),
                                ) {
                                    (Some(wanted), Some(uid)) => wanted == uid,
                                    _ => true,
                                }
                        })
                    })
            })
        })
        .map(reference)
        .collect()
}

/// `value` without what an API server may add or leave out without changing its meaning:
/// `null` fields and empty mappings (`lastProbeTime: null`, `lastState: {}`). Statuses are
/// compared in this form, so that one written and read back counts as unchanged.
pub fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| (key.clone(), normalized(field)))
                .filter(|(_, field)| {
                    !field.is_null() && field.as_object().is_none_or(|inner| !inner.is_empty())
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// A status write of `status` on `object`, unless its status already says that.
pub(crate) fn status_change(object: &Value, status: Value) -> Option<Change> {
    let current = object.get("status").cloned().unwrap_or(Value::Null);
    (normalized(&current) != normalized(&status)).then(|| Change::Status {
        target: reference(object),
        status,
    })
}

#[cfg(test)]
mod tests;
