//! The Job controller, after Kubernetes 1.20 `pkg/controller/job/job_controller.go`
//! (`syncJob`, `manageJob`): it sets `startTime`, keeps `parallelism` pods running until
//! `completions` succeeded, counts `active`, `succeeded` and `failed` pods, and ends the Job
//! with condition `Complete` (and `completionTime`), or `Failed` with reason
//! `BackoffLimitExceeded` once more pods failed than `backoffLimit` allows, or
//! `DeadlineExceeded` once it ran longer than `activeDeadlineSeconds`. A finished Job's
//! running pods are deleted.

use serde_json::{Map, Value, json};

use super::{
    Change, Pass,
    object::{condition_true, controlled, int, name, put_count, reference, seconds_since, text},
    replicaset::{is_active, pod_from_template},
    status_change,
};

/// batch/v1 default of `spec.backoffLimit`.
const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// One pass of the Job controller over `job`.
pub fn reconcile(job: &Value, pass: &Pass<'_>) -> Vec<Change> {
    if condition_true(job, "Complete") || condition_true(job, "Failed") {
        return Vec::new();
    }
    let now = pass.timestamp();
    let pods = controlled(pass.objects, job, "Pod");
    let phase_count = |phase: &str| {
        i64::try_from(
            pods.iter()
                .filter(|pod| text(pod, "/status/phase") == phase)
                .count(),
        )
        .unwrap_or(i64::MAX)
    };
    let active_pods: Vec<&Value> = pods.iter().copied().filter(|pod| is_active(pod)).collect();
    let mut active = i64::try_from(active_pods.len()).unwrap_or(i64::MAX);
    let succeeded = phase_count("Succeeded");
    let failed = phase_count("Failed");
    let mut status = job
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if status.get("startTime").is_none_or(Value::is_null) {
        status["startTime"] = json!(now);
    }
    let completions = int(job, "/spec/completions", 1);
    let parallelism = int(job, "/spec/parallelism", 1);
    let backoff_limit = int(job, "/spec/backoffLimit", DEFAULT_BACKOFF_LIMIT);
    let deadline = job
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64);
    let past_deadline = deadline.is_some_and(|deadline| {
        seconds_since(&status, "/startTime", pass.now).is_some_and(|ran| ran >= deadline)
    });
    let mut changes = Vec::new();
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let failure = if failed > backoff_limit {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if past_deadline {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    if let Some((reason, message)) = failure {
        changes.extend(active_pods.iter().map(|pod| Change::Delete(reference(pod))));
        active = 0;
        conditions.push(job_condition("Failed", reason, message, &now));
    } else if succeeded >= completions {
        active = 0;
        status["completionTime"] = json!(now);
        conditions.push(job_condition("Complete", "", "", &now));
    } else {
        let wanted = parallelism.min(completions - succeeded);
        let mut taken: Vec<String> = pass
            .objects
            .iter()
            .filter(|object| super::object::kind(object) == "Pod")
            .map(|pod| name(pod).to_owned())
            .collect();
        let mut labels = Map::new();
        labels.insert("job-name".to_owned(), json!(name(job)));
        let uid = text(job, "/metadata/uid");
        if !uid.is_empty() {
            labels.insert("controller-uid".to_owned(), json!(uid));
        }
        let missing = (wanted - active).max(0);
        for _ in 0..missing {
            let pod = pod_from_template(job, &labels, |candidate| {
                taken.iter().any(|name| name == candidate)
            });
            taken.push(name(&pod).to_owned());
            changes.push(Change::Create(pod));
        }
        active += missing;
    }
    put_count(&mut status, "active", active);
    put_count(&mut status, "succeeded", succeeded);
    put_count(&mut status, "failed", failed);
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    changes.extend(status_change(job, status));
    changes
}

fn job_condition(condition_type: &str, reason: &str, message: &str, now: &str) -> Value {
    let mut condition = json!({
        "type": condition_type,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
    });
    if !reason.is_empty() {
        condition["reason"] = json!(reason);
        condition["message"] = json!(message);
    }
    condition
}
