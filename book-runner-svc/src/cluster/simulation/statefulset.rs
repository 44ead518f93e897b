//! The StatefulSet controller, after Kubernetes 1.20 `pkg/controller/statefulset`
//! (`stateful_set_control.go` `updateStatefulSet`, `stateful_set_utils.go`).
//!
//! Pods are `<set>-<ordinal>`, labelled with the revision of the template they were made from
//! (`controller-revision-hash: <set>-<hash>`). With the default `OrderedReady` policy a pass
//! creates at most one pod, and only once every lower ordinal runs and is ready; scaling down
//! deletes the highest ordinal first, one at a time. `Parallel` creates and deletes them all at
//! once. `RollingUpdate` replaces pods of an older revision from the highest ordinal down, one
//! at a time; `OnDelete` leaves that to whoever deletes them (an operator). Failed pods are
//! deleted and made again.
//!
//! Status: `observedGeneration`, `replicas`, `readyReplicas`, `currentReplicas`,
//! `updatedReplicas`, `currentRevision`, `updateRevision`, `collisionCount`.

use serde_json::{Map, Value, json};

use super::{
    Change, Pass,
    object::{controlled, deleting, generation, int, label, name, put_count, reference, text},
    replicaset::named_pod,
    status_change,
};

/// The label naming the revision a pod of a StatefulSet was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// One pass of the StatefulSet controller over `set`.
pub fn reconcile(set: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let replicas = int(set, "/spec/replicas", 1);
    let update_revision = update_revision(set);
    let current_revision = match text(set, "/status/currentRevision") {
        "" => update_revision.clone(),
        revision => revision.to_owned(),
    };
    let monotonic = text(set, "/spec/podManagementPolicy") != "Parallel";
    let pods = controlled(pass.objects, set, "Pod");
    let ordinal_of = |pod: &Value| ordinal(name(set), name(pod));
    let mut status = Counts::default();
    for pod in &pods {
        status.replicas += 1;
        if running_and_ready(pod) {
            status.ready += 1;
        }
        if !deleting(pod) {
            let revision = label(pod, REVISION_LABEL);
            status.current += i64::from(revision == current_revision);
            status.updated += i64::from(revision == update_revision);
        }
    }
    let mut changes = Vec::new();
    'sync: {
        for wanted in 0..replicas {
            let Some(pod) = pods.iter().find(|pod| ordinal_of(pod) == Some(wanted)) else {
                changes.push(Change::Create(pod_for(set, wanted, &update_revision)));
                status.replicas += 1;
                status.updated += 1;
                if monotonic {
                    break 'sync;
                }
                continue;
            };
            if text(pod, "/status/phase") == "Failed" {
                changes.push(Change::Delete(reference(pod)));
                if monotonic {
                    break 'sync;
                }
                continue;
            }
            if monotonic && (deleting(pod) || !running_and_ready(pod)) {
                break 'sync;
            }
        }
        let mut condemned: Vec<&Value> = pods
            .iter()
            .copied()
            .filter(|pod| ordinal_of(pod).is_none_or(|ordinal| ordinal >= replicas))
            .collect();
        condemned.sort_by_key(|pod| ordinal_of(pod));
        let first_unhealthy = pods
            .iter()
            .find(|pod| !running_and_ready(pod))
            .map(|pod| name(pod).to_owned());
        for pod in condemned.into_iter().rev() {
            if deleting(pod) {
                if monotonic {
                    break 'sync;
                }
                continue;
            }
            if monotonic && !running_and_ready(pod) && first_unhealthy.as_deref() != Some(name(pod))
            {
                break 'sync;
            }
            changes.push(Change::Delete(reference(pod)));
            if monotonic {
                break 'sync;
            }
        }
        if text(set, "/spec/updateStrategy/type") == "OnDelete" {
            break 'sync;
        }
        let partition = int(set, "/spec/updateStrategy/rollingUpdate/partition", 0);
        for target in (partition..replicas).rev() {
            let Some(pod) = pods.iter().find(|pod| ordinal_of(pod) == Some(target)) else {
                continue;
            };
            if label(pod, REVISION_LABEL) != update_revision && !deleting(pod) {
                changes.push(Change::Delete(reference(pod)));
                break 'sync;
            }
            if !running_and_ready(pod) {
                break 'sync;
            }
        }
    }
    let mut new_status = set
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let rolled = text(set, "/spec/updateStrategy/type") != "OnDelete"
        && status.updated == status.replicas
        && status.ready == status.replicas;
    let current_revision = if rolled {
        status.current = status.updated;
        update_revision.clone()
    } else {
        current_revision
    };
    new_status["observedGeneration"] = json!(generation(set));
    new_status["replicas"] = json!(status.replicas);
    put_count(&mut new_status, "readyReplicas", status.ready);
    put_count(&mut new_status, "currentReplicas", status.current);
    put_count(&mut new_status, "updatedReplicas", status.updated);
    new_status["currentRevision"] = json!(current_revision);
    new_status["updateRevision"] = json!(update_revision);
    new_status["collisionCount"] = json!(0);
    changes.extend(status_change(set, new_status));
    changes
}

/// The revision of `set`'s current template: `<set>-<hash>`.
pub fn update_revision(set: &Value) -> String {
    let template = set.pointer("/spec/template").cloned().unwrap_or_default();
    format!("{}-{}", name(set), super::object::template_hash(&template))
}

/// Whether a pod runs and is ready, which is what lets an ordered StatefulSet go on.
pub fn running_and_ready(pod: &Value) -> bool {
    text(pod, "/status/phase") == "Running" && super::object::condition_true(pod, "Ready")
}

#[derive(Default)]
struct Counts {
    replicas: i64,
    ready: i64,
    current: i64,
    updated: i64,
}

/// The ordinal of pod `pod_name` of set `set_name`.
fn ordinal(set_name: &str, pod_name: &str) -> Option<i64> {
    pod_name
        .strip_prefix(set_name)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// Pod `ordinal` of `set`, at `revision`: stable name, host name and subdomain, and the volumes
/// of its claim templates (`<claim>-<set>-<ordinal>`).
fn pod_for(set: &Value, ordinal: i64, revision: &str) -> Value {
    let template = set.pointer("/spec/template").cloned().unwrap_or_default();
    let pod_name = format!("{}-{ordinal}", name(set));
    let mut labels: Map<String, Value> = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(REVISION_LABEL.to_owned(), json!(revision));
    labels.insert(
        "statefulset.kubernetes.io/pod-name".to_owned(),
        json!(pod_name),
    );
    let mut pod = named_pod(set, &template, &pod_name, labels);
    pod["spec"]["hostname"] = json!(pod_name);
    let service = text(set, "/spec/serviceName");
    if !service.is_empty() {
        pod["spec"]["subdomain"] = json!(service);
    }
    for claim in set
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let claim_name = text(claim, "/metadata/name");
        let volume = json!({
            "name": claim_name,
            "persistentVolumeClaim": {"claimName": format!("{claim_name}-{}-{ordinal}", name(set))},
        });
        match pod["spec"]["volumes"].as_array_mut() {
            Some(volumes) => volumes.push(volume),
            None => pod["spec"]["volumes"] = json!([volume]),
        }
    }
    pod
}
