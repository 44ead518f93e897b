//! The pods of a workload a wait is about, and what in them says the wait is lost.
//!
//! Pods are found by the workload's `spec.selector` in its namespace, and only those of its
//! current template count: a crash-looping pod of the previous rollout, still there while the
//! new one fixes it, must not fail the new one. A StatefulSet names its current revision
//! (`status.updateRevision`, the pods' `controller-revision-hash`); a Deployment's is its newest
//! ReplicaSet (highest `deployment.kubernetes.io/revision`), whose `pod-template-hash` its pods
//! carry. When no ReplicaSet can be read (a folder cluster, or an identity that may not list
//! them), every matching pod counts.

use serde_json::Value;

use super::rules::{observed, quote};
use crate::cluster::{Condition, selector::Selector};

/// Waiting reasons that do not go away by themselves: the kubelet backs off from an image it
/// could not pull or a container that keeps crashing, and a missing config or bad image name
/// needs a new spec. `ErrImagePull` alone is not one: the next pull may work.
const STUCK: [&str; 4] = [
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
];

/// Waiting reasons of every pod that starts: not worth telling.
const STARTING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// Which pods to read for a wait, and how to keep those of the current template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodQuery {
    /// The workload's namespace.
    pub namespace: String,
    /// Its `spec.selector`, never empty.
    pub selector: Selector,
    current: Current,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Current {
    /// Every matching pod (a Job's template does not change).
    All,
    /// Pods labelled `controller-revision-hash` with this StatefulSet revision.
    Revision(String),
    /// Pods of the Deployment's newest ReplicaSet; the Deployment's uid, to keep only the
    /// ReplicaSets it owns.
    NewestReplicaSet(Option<String>),
}

impl PodQuery {
    /// The pods whose state bears on `condition` for `object`: those of a Deployment,
    /// StatefulSet or Job (anything with `spec.selector`) waited for with `available`, `ready`
    /// or `complete`, once its controller works on the current generation (before that, the
    /// pods are the previous template's).
    pub(super) fn of(condition: &Condition, kind: &str, object: &Value) -> Option<Self> {
        let current = match condition {
            Condition::Available if kind == "Deployment" => {
                Current::NewestReplicaSet(object["metadata"]["uid"].as_str().map(str::to_owned))
            }
            Condition::Ready => match object.pointer("/status/updateRevision") {
                Some(Value::String(revision)) => Current::Revision(revision.clone()),
                _ => Current::All,
            },
            Condition::Available | Condition::Complete => Current::All,
            _ => return None,
        };
        if !matches!(condition, Condition::Complete) && !observed(object) {
            return None;
        }
        let namespace = object.pointer("/metadata/namespace")?.as_str()?.to_owned();
        let selector = Selector::of_label_selector(object.pointer("/spec/selector")?).ok()?;
        if selector.is_empty() {
            return None;
        }
        Some(Self {
            namespace,
            selector,
            current,
        })
    }

    /// Whether [`current`](Self::current) needs the ReplicaSets matching the selector.
    pub fn needs_replica_sets(&self) -> bool {
        matches!(self.current, Current::NewestReplicaSet(_))
    }

    /// Of `pods` (matching the selector), those of the current template, sorted by name so
    /// that messages do not change with the order of a listing.
    pub fn current(&self, pods: Vec<Value>, replica_sets: &[Value]) -> Vec<Value> {
        let wanted = match &self.current {
            Current::All => None,
            Current::Revision(revision) => Some(("controller-revision-hash", revision.clone())),
            Current::NewestReplicaSet(owner) => newest_template(owner.as_deref(), replica_sets)
                .map(|hash| ("pod-template-hash", hash)),
        };
        let mut current: Vec<Value> = pods
            .into_iter()
            .filter(|pod| {
                wanted.as_ref().is_none_or(|(label, value)| {
                    pod.pointer("/metadata/labels")
                        .and_then(|labels| labels.get(*label))
                        .and_then(Value::as_str)
                        == Some(value.as_str())
                })
            })
            .collect();
        current.sort_by(|a, b| name(a).cmp(name(b)));
        current
    }
}

/// The `pod-template-hash` of the newest ReplicaSet `owner` owns (any, without an owner uid).
fn newest_template(owner: Option<&str>, replica_sets: &[Value]) -> Option<String> {
    replica_sets
        .iter()
        .filter(|replica_set| {
            owner.is_none_or(|owner| {
                replica_set
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|owners| owners.iter().any(|o| o["uid"] == owner))
            })
        })
        .filter_map(|replica_set| {
            let revision = replica_set
                .pointer("/metadata/annotations")?
                .get(REVISION_ANNOTATION)?
                .as_str()?
                .parse::<u64>()
                .ok()?;
            let hash = replica_set
                .pointer("/metadata/labels")?
                .get("pod-template-hash")?
                .as_str()?;
            Some((revision, hash))
        })
        .max_by_key(|(revision, _)| *revision)
        .map(|(_, hash)| hash.to_owned())
}

/// The first container stuck for good, as `pod <pod>/<container>: <reason>: <kubelet's
/// message>`. Pods being deleted are on their way out and do not count.
pub(super) fn stuck(pods: &[Value]) -> Option<String> {
    waiting(pods).find_map(|(pod, container, reason, message)| {
        STUCK
            .contains(&reason)
            .then(|| describe(pod, container, reason, message))
    })
}

/// Something worth telling about pods that are not stuck for good: a container waiting for a
/// reason other than starting (`ErrImagePull`), or a pod the scheduler cannot place.
pub(super) fn hint(pods: &[Value]) -> Option<String> {
    if let Some((pod, container, reason, message)) =
        waiting(pods).find(|(_, _, reason, _)| !STARTING.contains(reason))
    {
        return Some(describe(pod, container, reason, message));
    }
    pods.iter().filter(|pod| live(pod)).find_map(|pod| {
        let scheduled = pod
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|condition| condition["type"] == "PodScheduled")?;
        if scheduled["status"] != "False" {
            return None;
        }
        let reason = scheduled["reason"].as_str().unwrap_or("not scheduled");
        Some(match scheduled["message"].as_str() {
            Some(message) => format!("pod {}: {reason}: {}", name(pod), quote(message)),
            None => format!("pod {}: {reason}", name(pod)),
        })
    })
}

/// `(pod, container, reason, message)` of every waiting container of live pods, init
/// containers first.
fn waiting(pods: &[Value]) -> impl Iterator<Item = (&str, &str, &str, &str)> {
    pods.iter().filter(|pod| live(pod)).flat_map(|pod| {
        ["initContainerStatuses", "containerStatuses"]
            .into_iter()
            .filter_map(|list| pod["status"][list].as_array())
            .flatten()
            .filter_map(move |status| {
                let waiting = status.pointer("/state/waiting")?;
                Some((
                    name(pod),
                    status["name"].as_str().unwrap_or("?"),
                    waiting["reason"].as_str()?,
                    waiting["message"].as_str().unwrap_or_default(),
                ))
            })
    })
}

fn live(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("?")
}

fn describe(pod: &str, container: &str, reason: &str, message: &str) -> String {
    if message.trim().is_empty() {
        format!("pod {pod}/{container}: {reason}")
    } else {
        format!("pod {pod}/{container}: {reason}: {}", quote(message))
    }
}
