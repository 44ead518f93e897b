//! The scheduler and the kubelet for one pod, after Kubernetes 1.20
//! (`pkg/scheduler`, `pkg/kubelet/kubelet_pods.go` `generateAPIPodStatus`/`getPhase`,
//! `pkg/kubelet/status/generate.go`, `pkg/kubelet/kuberuntime/kuberuntime_manager.go`), one
//! step per pass:
//!
//! 1. the scheduler binds it: condition `PodScheduled`;
//! 2. the kubelet's first sync: `startTime`, containers waiting (`ContainerCreating`, or
//!    `PodInitializing` behind init containers);
//! 3. init containers run and complete one by one, then every container starts (`running`,
//!    or waiting `ErrImagePull` for an image it cannot pull);
//! 4. containers become ready (phase `Running`, conditions `Ready`/`ContainersReady`), or
//!    `ImagePullBackOff`, or crash into `CrashLoopBackOff`; pods that do not restart
//!    (`restartPolicy` `Never`/`OnFailure`, a Job's) complete: phase `Succeeded`, or `Failed`.
//!
//! The messages are the kubelet's (containerd runtime).

use serde_json::{Value, json};

use super::{
    Change, Pass,
    object::{condition_true, conditions_of, hex_digits, name, namespace, set_condition, text},
    status_change,
};

/// The node every simulated pod runs on, as `status.hostIP` reports it.
const HOST_IP: &str = "172.18.0.2";

/// The scheduler's or the kubelet's next step for `pod`.
pub fn reconcile(pod: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let phase = text(pod, "/status/phase");
    if phase == "Succeeded" || phase == "Failed" {
        return Vec::new();
    }
    let now = pass.timestamp();
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conditions = conditions_of(&status);
    if !condition_true(pod, "PodScheduled") {
        set_pod_condition(&mut conditions, "PodScheduled", true, None, &now);
        status["phase"] = json!("Pending");
        status["conditions"] = json!(conditions);
        return status_change(pod, status).into_iter().collect();
    }
    let containers = names_of(pod, "containers");
    let init_containers = names_of(pod, "initContainers");
    if status.get("startTime").is_none_or(Value::is_null) {
        let index = u32::from_str_radix(&hex_digits(name(pod), 2), 16).unwrap_or(0) % 250 + 2;
        status["startTime"] = json!(now);
        status["hostIP"] = json!(HOST_IP);
        status["podIP"] = json!(format!("10.244.0.{index}"));
        status["podIPs"] = json!([{"ip": format!("10.244.0.{index}")}]);
        let main_reason = if init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        if !init_containers.is_empty() {
            status["initContainerStatuses"] = json!(
                init_containers
                    .iter()
                    .map(|(container, image)| waiting(container, image, "PodInitializing", None))
                    .collect::<Vec<_>>()
            );
        }
        status["containerStatuses"] = json!(
            containers
                .iter()
                .map(|(container, image)| waiting(container, image, main_reason, None))
                .collect::<Vec<_>>()
        );
    } else {
        Kubelet {
            pod,
            pass,
            now: &now,
        }
        .advance(&mut status);
    }
    let summary = summarize(pod, &status);
    status["phase"] = json!(summary.phase);
    let initialized_message = (!summary.initialized).then(|| {
        (
            "ContainersNotInitialized",
            format!(
                "containers with incomplete status: [{}]",
                summary.uninitialized.join(" ")
            ),
        )
    });
    set_pod_condition(
        &mut conditions,
        "Initialized",
        summary.initialized,
        initialized_message,
        &now,
    );
    let not_ready = if summary.completed {
        Some(("PodCompleted", String::new()))
    } else {
        Some((
            "ContainersNotReady",
            format!(
                "containers with unready status: [{}]",
                summary.unready.join(" ")
            ),
        ))
    };
    let ready = summary.unready.is_empty() && !summary.completed;
    for condition in ["Ready", "ContainersReady"] {
        set_pod_condition(
            &mut conditions,
            condition,
            ready,
            (!ready).then(|| not_ready.clone()).flatten(),
            &now,
        );
    }
    status["conditions"] = json!(conditions);
    status_change(pod, status).into_iter().collect()
}

/// `image` as containerd resolves it: `nginx` is `docker.io/library/nginx:latest`.
pub fn full_image_reference(image: &str) -> String {
    let (remote, digest) = match image.split_once('@') {
        Some((remote, digest)) => (remote, Some(digest)),
        None => (image, None),
    };
    let first = remote.split('/').next().unwrap_or_default();
    let has_domain = remote.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        remote.to_owned()
    } else if remote.contains('/') {
        format!("docker.io/{remote}")
    } else {
        format!("docker.io/library/{remote}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    match digest {
        Some(digest) => format!("{full}@{digest}"),
        None => {
            if !last.contains(':') {
                full.push_str(":latest");
            }
            full
        }
    }
}

/// `(name, image)` of every container in the pod's `spec.<field>`.
fn names_of(pod: &Value, field: &str) -> Vec<(String, String)> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|container| {
            (
                text(container, "/name").to_owned(),
                text(container, "/image").to_owned(),
            )
        })
        .collect()
}

/// One step of the kubelet's work on a scheduled, started pod.
struct Kubelet<'a> {
    pod: &'a Value,
    pass: &'a Pass<'a>,
    now: &'a str,
}

impl Kubelet<'_> {
    fn advance(&self, status: &mut Value) {
        let mut init_statuses = status["initContainerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Init containers run one at a time, in order; the others wait until they are done.
        if let Some(current) = init_statuses
            .iter_mut()
            .find(|container| text(container, "/state/terminated/reason") != "Completed")
        {
            self.step(current, true);
            status["initContainerStatuses"] = json!(init_statuses);
            return;
        }
        let mut statuses = status["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for container in &mut statuses {
            self.step(container, false);
        }
        status["containerStatuses"] = json!(statuses);
    }

    /// Moves one container's status a step; `init`: an init container, which completes.
    fn step(&self, container: &mut Value, init: bool) {
        let image = text(container, "/image").to_owned();
        let reason = text(container, "/state/waiting/reason").to_owned();
        let restarts = self.restart_policy() != "Never";
        let finishes = init || self.restart_policy() != "Always";
        match reason.as_str() {
            "ImagePullBackOff" => {}
            "ErrImagePull" => {
                *container = waiting(
                    text(container, "/name"),
                    &image,
                    "ImagePullBackOff",
                    Some(format!("Back-off pulling image \"{image}\"")),
                );
            }
            "CrashLoopBackOff" => {}
            "" => {
                let running = container.pointer("/state/running").is_some();
                if !running {
                    return;
                }
                if self.pass.faults.crashing(&image) || (finishes && self.fails()) {
                    self.terminate(container, 1, "Error", restarts);
                } else if finishes {
                    self.terminate(container, 0, "Completed", false);
                } else {
                    container["ready"] = json!(true);
                }
            }
            _ if self.pass.faults.unpullable(&image) => {
                let full = full_image_reference(&image);
                *container = waiting(
                    text(container, "/name"),
                    &image,
                    "ErrImagePull",
                    Some(format!(
                        "rpc error: code = NotFound desc = failed to pull and unpack image \
                         \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                    )),
                );
            }
            _ => {
                let full = full_image_reference(&image);
                let seed = format!("{}/{}", name(self.pod), text(container, "/name"));
                container["state"] = json!({"running": {"startedAt": self.now}});
                container["started"] = json!(true);
                container["ready"] = json!(false);
                container["imageID"] = json!(format!(
                    "{}@sha256:{}",
                    full.split([':', '@']).next().unwrap_or_default(),
                    hex_digits(&full, 64)
                ));
                container["containerID"] = json!(format!("containerd://{}", hex_digits(&seed, 64)));
            }
        }
    }

    /// The container exits with `code`; with `restarts`, the kubelet backs off restarting it.
    fn terminate(&self, container: &mut Value, code: i64, reason: &str, restarts: bool) {
        let terminated = json!({
            "exitCode": code,
            "reason": reason,
            "startedAt": text(container, "/state/running/startedAt"),
            "finishedAt": self.now,
            "containerID": text(container, "/containerID"),
        });
        container["ready"] = json!(false);
        container["started"] = json!(false);
        if restarts && code != 0 {
            let restart_count = container["restartCount"].as_i64().unwrap_or(0) + 1;
            container["restartCount"] = json!(restart_count);
            container["lastState"] = json!({"terminated": terminated});
            container["state"] = json!({"waiting": {
                "reason": "CrashLoopBackOff",
                "message": format!(
                    "back-off 10s restarting failed container={} pod={}_{}({})",
                    text(container, "/name"),
                    name(self.pod),
                    namespace(self.pod),
                    text(self.pod, "/metadata/uid"),
                ),
            }});
        } else {
            container["state"] = json!({"terminated": terminated});
        }
    }

    fn restart_policy(&self) -> &str {
        match text(self.pod, "/spec/restartPolicy") {
            "" => "Always",
            policy => policy,
        }
    }

    /// Whether this is a pod of a Job the faults make fail.
    fn fails(&self) -> bool {
        let job = self
            .pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|owner| owner["kind"] == "Job")
            .and_then(|owner| owner["name"].as_str());
        job.is_some_and(|job| self.pass.faults.failing_jobs.contains(job))
    }
}

/// A container status waiting for `reason`.
fn waiting(container: &str, image: &str, reason: &str, message: Option<String>) -> Value {
    let mut state = json!({"reason": reason});
    if let Some(message) = message {
        state["message"] = json!(message);
    }
    json!({
        "name": container,
        "image": image,
        "imageID": "",
        "ready": false,
        "restartCount": 0,
        "started": false,
        "state": {"waiting": state},
        "lastState": {},
    })
}

/// What the pod's phase and conditions follow from its container statuses.
struct Summary {
    phase: &'static str,
    initialized: bool,
    uninitialized: Vec<String>,
    unready: Vec<String>,
    completed: bool,
}

/// The kubelet's `getPhase`, and the names its conditions list.
fn summarize(pod: &Value, status: &Value) -> Summary {
    let list = |field: &str| status[field].as_array().cloned().unwrap_or_default();
    let uninitialized: Vec<String> = list("initContainerStatuses")
        .iter()
        .filter(|container| text(container, "/state/terminated/reason") != "Completed")
        .map(|container| text(container, "/name").to_owned())
        .collect();
    let containers = list("containerStatuses");
    let unready: Vec<String> = containers
        .iter()
        .filter(|container| container["ready"] != true)
        .map(|container| text(container, "/name").to_owned())
        .collect();
    let terminated: Vec<i64> = containers
        .iter()
        .filter_map(|container| container.pointer("/state/terminated/exitCode"))
        .filter_map(Value::as_i64)
        .collect();
    let running = containers.iter().any(|container| {
        container.pointer("/state/running").is_some()
            || text(container, "/state/waiting/reason") == "CrashLoopBackOff"
    });
    let init_failed = list("initContainerStatuses")
        .iter()
        .any(|container| text(container, "/state/terminated/reason") == "Error");
    let restart_policy = text(pod, "/spec/restartPolicy");
    let all_terminated = !containers.is_empty() && terminated.len() == containers.len();
    let phase = if init_failed && restart_policy == "Never" {
        "Failed"
    } else if all_terminated && terminated.iter().all(|code| *code == 0) {
        "Succeeded"
    } else if all_terminated {
        "Failed"
    } else if running || !terminated.is_empty() {
        "Running"
    } else {
        "Pending"
    };
    Summary {
        phase,
        initialized: uninitialized.is_empty(),
        uninitialized,
        unready,
        completed: phase == "Succeeded" || phase == "Failed",
    }
}

/// Sets a pod condition; pods' conditions carry `lastProbeTime` (always null).
fn set_pod_condition(
    conditions: &mut Vec<Value>,
    condition_type: &str,
    holds: bool,
    reason: Option<(&str, String)>,
    now: &str,
) {
    let mut condition = json!({
        "type": condition_type,
        "status": if holds { "True" } else { "False" },
        "lastProbeTime": null,
    });
    if let Some((reason, message)) = reason {
        condition["reason"] = json!(reason);
        if !message.is_empty() {
            condition["message"] = json!(message);
        }
    }
    set_condition(conditions, condition, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_completed_as_containerd_does() {
        assert_eq!(
            full_image_reference("nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(full_image_reference("odoo:18"), "docker.io/library/odoo:18");
        assert_eq!(
            full_image_reference("percona/haproxy:2.8.15"),
            "docker.io/percona/haproxy:2.8.15"
        );
        assert_eq!(
            full_image_reference("registry.example/shop:1.0"),
            "registry.example/shop:1.0"
        );
        assert_eq!(
            full_image_reference("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            full_image_reference("nginx@sha256:abc"),
            "docker.io/library/nginx@sha256:abc"
        );
    }
}
