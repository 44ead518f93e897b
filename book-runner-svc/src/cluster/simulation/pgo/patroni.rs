//! Patroni, inside PostgreSQL pods: the role labels and the member status annotation PGO reads
//! (`naming.LabelRole`, `Instance.IsWritable` in `internal/controller/postgrescluster/instance.go`).

use serde_json::{Value, json};

use super::{
    KIND, LABEL_CLUSTER, LABEL_DATA, LABEL_INSTANCE, LABEL_PATRONI, LABEL_ROLE, ROLE_LEADER,
    ROLE_REPLICA, instance_pods,
};
use crate::cluster::simulation::{
    Change, Pass,
    object::{deleting, find, label, name, text},
};

/// Patroni in a PostgreSQL pod: once its database container runs, it labels the pod with its
/// role, and the status annotation PGO reads. One leader per cluster: the first pod able to lead
/// (the startup instance's, if the cluster remembers one) takes it when there is none.
pub fn patroni(pod: &Value, pass: &Pass<'_>) -> Vec<Change> {
    let cluster_name = label(pod, LABEL_CLUSTER);
    if label(pod, LABEL_DATA) != "postgres" || cluster_name.is_empty() || deleting(pod) {
        return Vec::new();
    }
    let Some(cluster) = find(pass.objects, KIND, cluster_name) else {
        return Vec::new();
    };
    let runs = |pod: &Value| {
        pod.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["name"] == "database" && c.pointer("/state/running").is_some())
    };
    if !runs(pod) {
        return Vec::new();
    }
    let pods = instance_pods(cluster, pass.objects);
    let startup = text(cluster, "/status/startupInstance");
    let leader_exists = pods
        .iter()
        .any(|other| label(other, LABEL_ROLE) == ROLE_LEADER);
    let candidate = pods
        .iter()
        .filter(|other| runs(other) && !deleting(other))
        .filter(|other| startup.is_empty() || label(other, LABEL_INSTANCE) == startup)
        .map(|other| name(other))
        .min();
    let role = match label(pod, LABEL_ROLE) {
        ROLE_LEADER => return Vec::new(),
        _ if !leader_exists && candidate == Some(name(pod)) => ROLE_LEADER,
        "" if leader_exists => ROLE_REPLICA,
        _ => return Vec::new(),
    };
    let mut labelled = pod.clone();
    labelled["metadata"]["labels"][LABEL_ROLE] = json!(role);
    labelled["metadata"]["labels"][LABEL_PATRONI] = json!(format!("{cluster_name}-ha"));
    let member = json!({
        "conn_url": format!("postgres://{}.{cluster_name}-pods:5432/postgres", name(pod)),
        "api_url": format!("https://{}.{cluster_name}-pods:8008/patroni", name(pod)),
        "state": "running",
        "role": role,
        "version": "4.0.7",
    });
    labelled["metadata"]["annotations"]["status"] = json!(member.to_string());
    vec![Change::Update(labelled)]
}
