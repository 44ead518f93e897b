//! The ReplicaSet controller, after Kubernetes 1.20 `pkg/controller/replicaset/replica_set.go`
//! (`manageReplicas`, `calculateStatus` in `replica_set_utils.go`): it creates the pods that
//! are missing and deletes the surplus (not-ready ones first), and reports what it saw at the
//! start of the pass (`replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//! `availableReplicas`, `observedGeneration`).

use serde_json::{Map, Value, json};

use super::{
    Change, Pass,
    object::{
        controlled, generated_name, generation, int, labels, name, new_owned, put_count, reference,
    },
    status_change,
};

/// One pass of the ReplicaSet controller over `replica_set`.
pub fn reconcile(replica_set: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let wanted = int(replica_set, "/spec/replicas", 1);
    let pods: Vec<&Value> = controlled(pass.objects, replica_set, "Pod")
        .into_iter()
        .filter(|pod| is_active(pod))
        .collect();
    let mut changes = Vec::new();
    let active = i64::try_from(pods.len()).unwrap_or(i64::MAX);
    if active < wanted {
        let mut taken: Vec<String> = pass
            .objects
            .iter()
            .filter(|object| super::object::kind(object) == "Pod")
            .map(|pod| name(pod).to_owned())
            .collect();
        for _ in active..wanted {
            let pod = pod_from_template(replica_set, &Map::new(), |candidate| {
                taken.iter().any(|name| name == candidate)
            });
            taken.push(name(&pod).to_owned());
            changes.push(Change::Create(pod));
        }
    } else if active > wanted {
        // Pods that are not ready go first, then the newest.
        let mut ranked = pods.clone();
        ranked.sort_by_key(|pod| (is_ready(pod), std::cmp::Reverse(name(pod).to_owned())));
        let surplus = usize::try_from(active - wanted).unwrap_or(0);
        changes.extend(
            ranked
                .into_iter()
                .take(surplus)
                .map(|pod| Change::Delete(reference(pod))),
        );
    }
    let template_labels = replica_set
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let count = |keep: &dyn Fn(&Value) -> bool| {
        i64::try_from(pods.iter().filter(|pod| keep(pod)).count()).unwrap_or(i64::MAX)
    };
    let mut status = replica_set
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    // `replicas` is the one count ReplicaSetStatus does not declare omitempty.
    status["replicas"] = json!(active);
    put_count(
        &mut status,
        "fullyLabeledReplicas",
        count(&|pod: &Value| {
            let pod_labels = labels(pod);
            template_labels
                .iter()
                .all(|(key, value)| pod_labels.get(key) == Some(value))
        }),
    );
    put_count(
        &mut status,
        "readyReplicas",
        count(&|pod: &Value| is_ready(pod)),
    );
    // minReadySeconds is not modelled: a ready pod is available at once.
    put_count(
        &mut status,
        "availableReplicas",
        count(&|pod: &Value| is_ready(pod)),
    );
    status["observedGeneration"] = json!(generation(replica_set));
    changes.extend(status_change(replica_set, status));
    changes
}

/// A new pod from `owner`'s `spec.template`, with `extra_labels`, named `<owner>-<5 chars>`
/// (the ReplicaSet and Job controllers' `generateName`).
pub(crate) fn pod_from_template(
    owner: &Value,
    extra_labels: &Map<String, Value>,
    taken: impl Fn(&str) -> bool,
) -> Value {
    let template = owner.pointer("/spec/template").cloned().unwrap_or_default();
    let mut pod_labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    pod_labels.extend(extra_labels.clone());
    let seed = format!(
        "{}/{}",
        name(owner),
        super::object::text(owner, "/metadata/uid")
    );
    let pod_name = generated_name(&format!("{}-", name(owner)), &seed, 5, taken);
    named_pod(owner, &template, &pod_name, pod_labels)
}

/// A pod named `pod_name` made from `template` for `owner`.
pub(crate) fn named_pod(
    owner: &Value,
    template: &Value,
    pod_name: &str,
    pod_labels: Map<String, Value>,
) -> Value {
    let mut pod = new_owned("v1", "Pod", pod_name, owner, &pod_labels);
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        pod["metadata"]["annotations"] = annotations.clone();
    }
    pod["spec"] = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    pod
}

/// Whether a pod counts for its controller: not terminated and not being deleted.
pub(crate) fn is_active(pod: &Value) -> bool {
    let phase = super::object::text(pod, "/status/phase");
    phase != "Succeeded" && phase != "Failed" && !super::object::deleting(pod)
}

/// Whether a pod is ready (condition `Ready`).
pub(crate) fn is_ready(pod: &Value) -> bool {
    super::object::condition_true(pod, "Ready")
}
