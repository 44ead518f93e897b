//! The Percona Operator for MySQL based on Percona XtraDB Cluster, v1.19.0, for a
//! PerconaXtraDBCluster, after `pkg/controller/pxc/{controller.go, status.go, upgrade.go}` and
//! `pkg/apis/pxc/v1/pxc_types.go` (`CheckNSetDefaults`, `Validate`, `checkSafeDefaults`,
//! `ClusterStatus`, `AddCondition`).
//!
//! A pass, as one `Reconcile`:
//! - validation: a name over 22 characters, no `spec.pxc`, no image, HAProxy and ProxySQL both
//!   enabled, and (unless paused, for crVersion 1.15.0 and later) TLS off without
//!   `unsafeFlags.tls`, a PXC size below 3, above 5 or even without `unsafeFlags.pxcSize`, a proxy
//!   below 2 without `unsafeFlags.proxySize`: the state becomes `error`, with condition
//!   `{type: error, reason: ErrorReconcile, message}` and message `Error: <why>`, and nothing
//!   else happens (not even `observedGeneration`, as upstream);
//! - the StatefulSets `<cluster>-pxc` (`OnDelete` under the default `SmartUpdate`: the operator
//!   deletes out-of-date pods itself, one at a time, once all are ready, the primary `-0` last)
//!   and `<cluster>-haproxy` (`RollingUpdate`), with `size` replicas, 0 when `spec.pause`;
//! - status: per component `size`, `ready` (pods whose containers are ready, and for PXC of the
//!   StatefulSet's current revision), `status`, `labelSelectorPath`, `message` (waiting
//!   containers' messages); the cluster's `state` (`initializing`, `ready`, `stopping`,
//!   `paused`), `host`, `size`, `ready`, `message`, the history of states in `conditions` and
//!   `observedGeneration`.
//!
//! Upstream sleeps a second in its smart update so that the StatefulSet controller has seen a
//! new template before it judges the rollout; the simulation counts a StatefulSet it has just
//! changed, or whose status is older than its spec, as an update in progress instead.
//!
//! Not simulated: Services, Secrets (`internal-<cluster>`, TLS), PersistentVolumeClaims,
//! version checks, backups; finalizers are dropped without their work.

use serde_json::{Map, Value, json};

use super::{
    Change, Pass,
    object::{
        condition_true, controlled, deleting, find, flag, generation, int, kind, labels, name,
        namespace, new_owned, text,
    },
    statefulset::REVISION_LABEL,
    status_change,
};

/// The API version of PerconaXtraDBCluster.
pub const API_VERSION: &str = "pxc.percona.com/v1";
/// The kind.
pub const KIND: &str = "PerconaXtraDBCluster";

/// `clusterNameMaxLen`, `maxSafePXCSize`, `minSafeProxySize`.
const CLUSTER_NAME_MAX_LEN: usize = 22;
const MAX_SAFE_PXC_SIZE: i64 = 5;
const MIN_SAFE_PROXY_SIZE: i64 = 2;
/// `maxStatusesQuantity`: how many states `conditions` remembers.
const MAX_CONDITIONS: usize = 20;
/// The image of the operator, whose init container copies its tools into every pod.
const OPERATOR_IMAGE: &str = "percona/percona-xtradb-cluster-operator:1.19.0";

/// One pass of the operator over `cluster`.
pub fn reconcile(cluster: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let now = pass.timestamp();
    let mut status = cluster
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Err(reason) = validate(cluster) {
        // updateStatus with a reconcile error: only the first error is recorded.
        if text(&status, "/state") != "error" {
            add_condition(
                &mut status,
                json!({"status": "True", "type": "error", "message": reason, "reason": "ErrorReconcile", "lastTransitionTime": now}),
            );
            let mut messages = status["message"].as_array().cloned().unwrap_or_default();
            messages.push(json!(format!("Error: {reason}")));
            status["message"] = json!(messages);
            status["state"] = json!("error");
        }
        return status_change(cluster, status).into_iter().collect();
    }
    let mut changes = Vec::new();
    if deleting(cluster) {
        // The finalizers' work (pods in order, volumes, certificates) is not simulated.
        if cluster
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|finalizers| !finalizers.is_empty())
        {
            let mut updated = cluster.clone();
            updated["metadata"]["finalizers"] = json!([]);
            changes.push(Change::Update(updated));
        }
        return changes;
    }
    let paused = flag(cluster, "/spec/pause");
    let haproxy = flag(cluster, "/spec/haproxy/enabled");
    let components: Vec<Component> = [Some(Component::Pxc), haproxy.then_some(Component::HAProxy)]
        .into_iter()
        .flatten()
        .collect();
    // A StatefulSet changed now, or whose status is older than its spec, is not judged yet.
    let mut unsettled = false;
    let mut in_progress = false;
    for component in &components {
        let size = if paused { 0 } else { component.size(cluster) };
        let set_name = component.set_name(cluster);
        match find(pass.objects, "StatefulSet", &set_name) {
            None => {
                changes.push(Change::Create(component.stateful_set(cluster, size)));
                unsettled = true;
            }
            Some(set) => {
                let mut updated = set.clone();
                updated["spec"]["replicas"] = json!(size);
                component.set_image(&mut updated, cluster);
                if updated != *set {
                    changes.push(Change::Update(updated));
                    unsettled = true;
                }
                unsettled |= int(set, "/status/observedGeneration", 0) < generation(set);
                // upgradeInProgress.
                in_progress |=
                    int(set, "/status/replicas", 0) > int(set, "/status/updatedReplicas", 0);
            }
        }
    }
    let component_statuses: Vec<(Component, Value)> = components
        .iter()
        .map(|component| {
            (
                *component,
                app_status(cluster, *component, pass.objects, paused),
            )
        })
        .collect();
    if !paused
        && !unsettled
        && let Some(change) = smart_update(cluster, pass.objects, &component_statuses)
    {
        changes.push(change);
    }
    update_status(
        cluster,
        &mut status,
        &component_statuses,
        unsettled || in_progress,
        &now,
    );
    changes.extend(status_change(cluster, status));
    changes
}

/// The two components the simulation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Pxc,
    HAProxy,
}

impl Component {
    fn key(self) -> &'static str {
        match self {
            Self::Pxc => "pxc",
            Self::HAProxy => "haproxy",
        }
    }

    fn size(self, cluster: &Value) -> i64 {
        int(cluster, &format!("/spec/{}/size", self.key()), 0)
    }

    fn image(self, cluster: &Value) -> String {
        text(cluster, &format!("/spec/{}/image", self.key())).to_owned()
    }

    fn set_name(self, cluster: &Value) -> String {
        format!("{}-{}", name(cluster), self.key())
    }

    /// `naming.LabelsPXC` / `LabelsHAProxy`.
    fn labels(self, cluster: &Value) -> Map<String, Value> {
        let mut labels = Map::new();
        for (key, value) in [
            ("app.kubernetes.io/name", "percona-xtradb-cluster"),
            ("app.kubernetes.io/part-of", "percona-xtradb-cluster"),
            ("app.kubernetes.io/instance", name(cluster)),
            (
                "app.kubernetes.io/managed-by",
                "percona-xtradb-cluster-operator",
            ),
            ("app.kubernetes.io/component", self.key()),
        ] {
            labels.insert(key.to_owned(), json!(value));
        }
        labels
    }

    /// The component's label selector as the status spells it.
    fn selector_path(self, cluster: &Value) -> String {
        let mut pairs: Vec<String> = self
            .labels(cluster)
            .iter()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect();
        pairs.sort();
        pairs.join(",")
    }

    fn containers(self, cluster: &Value) -> Value {
        let image = self.image(cluster);
        match self {
            Self::Pxc => json!([{
                "name": "pxc",
                "image": image,
                "ports": [
                    {"name": "mysql", "containerPort": 3306, "protocol": "TCP"},
                    {"name": "write-set", "containerPort": 4567, "protocol": "TCP"},
                    {"name": "ist", "containerPort": 4568, "protocol": "TCP"},
                    {"name": "sst", "containerPort": 4444, "protocol": "TCP"},
                ],
                "readinessProbe": {"exec": {"command": ["/var/lib/mysql/readiness-check.sh"]}},
            }]),
            Self::HAProxy => json!([
                {
                    "name": "haproxy",
                    "image": image,
                    "ports": [{"name": "mysql", "containerPort": 3306, "protocol": "TCP"}],
                    "readinessProbe": {"exec": {"command": ["/opt/percona/haproxy_readiness_check.sh"]}},
                },
                {"name": "pxc-monit", "image": image},
            ]),
        }
    }

    fn stateful_set(self, cluster: &Value, size: i64) -> Value {
        let labels = self.labels(cluster);
        let mut set = new_owned(
            "apps/v1",
            "StatefulSet",
            &self.set_name(cluster),
            cluster,
            &labels,
        );
        let strategy = match self {
            Self::Pxc if text(cluster, "/spec/updateStrategy") != "RollingUpdate" => {
                json!({"type": "OnDelete"})
            }
            _ => json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        };
        set["spec"] = json!({
            "replicas": size,
            "serviceName": self.set_name(cluster),
            "selector": {"matchLabels": labels},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "initContainers": [{"name": "pxc-init", "image": OPERATOR_IMAGE}],
                    "containers": self.containers(cluster),
                },
            },
        });
        set
    }

    /// The image the spec asks for, on the stored StatefulSet (other fields as stored).
    fn set_image(self, set: &mut Value, cluster: &Value) {
        let image = self.image(cluster);
        let containers = set
            .pointer_mut("/spec/template/spec/containers")
            .and_then(Value::as_array_mut);
        for container in containers.into_iter().flatten() {
            if container["name"] != "pxc-init" {
                container["image"] = json!(image);
            }
        }
    }
}

/// `CheckNSetDefaults`: why the operator refuses the cluster, in its words.
fn validate(cluster: &Value) -> Result<(), String> {
    let cluster_name = name(cluster);
    if cluster_name.len() > CLUSTER_NAME_MAX_LEN {
        return Err(format!(
            "validate cr: cluster name ({cluster_name}) too long, must be no more than {CLUSTER_NAME_MAX_LEN} characters"
        ));
    }
    let Some(pxc) = cluster.pointer("/spec/pxc").filter(|pxc| pxc.is_object()) else {
        return Err(format!(
            "validate cr: spec.pxc section is not specified. Please check {cluster_name} cluster settings"
        ));
    };
    if text(pxc, "/image").is_empty() {
        return Err("validate cr: pxc.Image can't be empty".to_owned());
    }
    if pxc.get("volumeSpec").is_none() {
        return Err("validate cr: PXC: volumeSpec should be specified".to_owned());
    }
    let haproxy = flag(cluster, "/spec/haproxy/enabled");
    let proxysql = flag(cluster, "/spec/proxysql/enabled");
    if haproxy && proxysql {
        return Err(
            "validate cr: can't enable both HAProxy and ProxySQL please only select one of them"
                .to_owned(),
        );
    }
    if haproxy && text(cluster, "/spec/haproxy/image").is_empty() {
        return Err("validate cr: haproxy.Image can't be empty".to_owned());
    }
    let checks_safety =
        !flag(cluster, "/spec/pause") && !deleting(cluster) && cr_version_at_least(cluster, 1, 15);
    if !checks_safety {
        return Ok(());
    }
    let unsafe_flag = |key: &str| flag(cluster, &format!("/spec/unsafeFlags/{key}"));
    let tls_off = cluster.pointer("/spec/tls/enabled") == Some(&json!(false));
    if tls_off && !unsafe_flag("tls") {
        return Err("check safe defaults: TLS must be enabled. Set spec.unsafeFlags.tls to true to disable this check".to_owned());
    }
    let size = int(pxc, "/size", 0);
    if !unsafe_flag("pxcSize") {
        if size < 3 {
            return Err("check safe defaults: PXC size must be at least 3. Set spec.unsafeFlags.pxcSize to true to disable this check".to_owned());
        }
        if size > MAX_SAFE_PXC_SIZE {
            return Err(format!(
                "check safe defaults: PXC size must be at most {MAX_SAFE_PXC_SIZE}. Set spec.unsafeFlags.pxcSize to true to disable this check"
            ));
        }
        if size % 2 == 0 {
            return Err("check safe defaults: PXC size must be an odd number. Set spec.unsafeFlags.pxcSize to true to disable this check".to_owned());
        }
    }
    if haproxy
        && !unsafe_flag("proxySize")
        && int(cluster, "/spec/haproxy/size", 0) < MIN_SAFE_PROXY_SIZE
    {
        return Err(format!(
            "check safe defaults: HAProxy size must be at least {MIN_SAFE_PROXY_SIZE}. Set spec.unsafeFlags.proxySize to true to disable this check"
        ));
    }
    if proxysql
        && !unsafe_flag("proxySize")
        && int(cluster, "/spec/proxysql/size", 0) < MIN_SAFE_PROXY_SIZE
    {
        return Err(format!(
            "check safe defaults: ProxySQL size must be at least {MIN_SAFE_PROXY_SIZE}. Set spec.unsafeFlags.proxySize to true to disable this check"
        ));
    }
    Ok(())
}

/// Whether `spec.crVersion` is at least `major.minor` (an empty one is the operator's own).
fn cr_version_at_least(cluster: &Value, major: u64, minor: u64) -> bool {
    let version = text(cluster, "/spec/crVersion");
    if version.is_empty() {
        return true;
    }
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u64>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// `appStatus`: what the pods of one component say.
fn app_status(cluster: &Value, component: Component, objects: &[Value], paused: bool) -> Value {
    let selector = component.labels(cluster);
    let set = find(objects, "StatefulSet", &component.set_name(cluster));
    let update = set
        .map(|set| text(set, "/status/updateRevision").to_owned())
        .unwrap_or_default();
    let size = if paused { 0 } else { component.size(cluster) };
    let mut message = String::new();
    let mut ready = 0;
    for pod in objects.iter().filter(|object| {
        kind(object) == "Pod" && {
            let pod_labels = labels(object);
            selector
                .iter()
                .all(|(key, value)| pod_labels.get(key) == Some(value))
        }
    }) {
        for container in pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let waiting = text(container, "/state/waiting/message");
            if !waiting.is_empty() {
                message.push_str(&format!("{}: {waiting}; ", text(container, "/name")));
            }
        }
        let containers_ready = condition_true(pod, "ContainersReady");
        let current =
            component != Component::Pxc || super::object::label(pod, REVISION_LABEL) == update;
        if containers_ready && current {
            ready += 1;
        }
    }
    let state = match () {
        () if paused && ready > 0 => "stopping",
        () if paused => "paused",
        () if ready == size => "ready",
        () => "initializing",
    };
    let mut status = json!({
        "status": state,
        "labelSelectorPath": component.selector_path(cluster),
    });
    // Ready pods beyond the size (a scale down) are not counted.
    let ready = ready.min(size);
    for (key, count) in [("size", size), ("ready", ready)] {
        if count != 0 {
            status[key] = json!(count);
        }
    }
    if !message.is_empty() {
        status["message"] = json!(message);
    }
    status
}

/// SmartUpdate: once HAProxy and every PXC pod are ready, deletes one PXC pod of an older
/// revision, the highest ordinal first (the primary, pod 0, last), for the StatefulSet to make
/// again from the new template; the next one goes once that one is back and ready.
fn smart_update(
    cluster: &Value,
    objects: &[Value],
    components: &[(Component, Value)],
) -> Option<Change> {
    let proxy_ready = components
        .iter()
        .all(|(component, status)| *component == Component::Pxc || status["status"] == "ready");
    let set = find(objects, "StatefulSet", &Component::Pxc.set_name(cluster))?;
    let revision = text(set, "/status/updateRevision");
    let pods = controlled(objects, set, "Pod");
    if !proxy_ready
        || !pods
            .iter()
            .all(|pod| condition_true(pod, "ContainersReady"))
    {
        return None;
    }
    let outdated = pods
        .iter()
        .filter(|pod| super::object::label(pod, REVISION_LABEL) != revision && !deleting(pod))
        .max_by_key(|pod| {
            name(pod)
                .rsplit('-')
                .next()
                .and_then(|ordinal| ordinal.parse::<i64>().ok())
                .unwrap_or(0)
        })?;
    Some(Change::Delete(super::object::reference(outdated)))
}

/// `updateStatus` without a reconcile error.
fn update_status(
    cluster: &Value,
    status: &mut Value,
    components: &[(Component, Value)],
    in_progress: bool,
    now: &str,
) {
    let mut size = 0;
    let mut ready = 0;
    let mut messages = Vec::new();
    let mut host = String::new();
    for (component, app) in components {
        status[component.key()] = app.clone();
        size += int(app, "/size", 0);
        ready += int(app, "/ready", 0);
        host = format!("{}.{}", component.set_name(cluster), namespace(cluster));
        let message = text(app, "/message");
        if !message.is_empty() {
            messages.push(json!(format!("{}: {message}", component.key())));
        }
    }
    if !components
        .iter()
        .any(|(component, _)| *component == Component::HAProxy)
    {
        status.as_object_mut().map(|s| s.remove("haproxy"));
    }
    status["size"] = json!(size);
    status["ready"] = json!(ready);
    status["host"] = json!(host);
    if messages.is_empty() {
        status.as_object_mut().map(|s| s.remove("message"));
    } else {
        status["message"] = json!(messages);
    }
    let pxc = components
        .iter()
        .find(|(component, _)| *component == Component::Pxc)
        .map(|(_, app)| text(app, "/status").to_owned())
        .unwrap_or_default();
    let haproxy = components
        .iter()
        .find(|(component, _)| *component == Component::HAProxy)
        .map(|(_, app)| text(app, "/status").to_owned());
    // `ClusterStatus`.
    let state = if deleting(cluster) || pxc == "stopping" || haproxy.as_deref() == Some("stopping")
    {
        "stopping".to_owned()
    } else if pxc == "paused" || (!in_progress && pxc == "ready" && !host.is_empty()) {
        match haproxy {
            Some(haproxy) if !haproxy.is_empty() && haproxy != pxc => haproxy,
            _ => pxc,
        }
    } else {
        "initializing".to_owned()
    };
    status["state"] = json!(state);
    add_condition(
        status,
        json!({"status": "True", "type": state, "lastTransitionTime": now}),
    );
    status["observedGeneration"] = json!(generation(cluster));
}

/// `AddCondition`: a state is recorded when it differs from the last one; 20 are kept.
fn add_condition(status: &mut Value, condition: Value) {
    let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    if conditions
        .last()
        .is_none_or(|last| last["type"] != condition["type"])
    {
        conditions.push(condition);
    }
    let excess = conditions.len().saturating_sub(MAX_CONDITIONS);
    conditions.drain(..excess);
    status["conditions"] = json!(conditions);
}
