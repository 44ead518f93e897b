//! Access to the real test API server (see `scripts/kube-apiserver`), and a stand-in for the
//! controllers and operators that acts through it: it writes `/status` as they would.

use std::time::Duration;

use kube::{
    Api, Client, Config,
    api::{
        ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    },
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Path of the admin kubeconfig of the test API server, or `None` (with a message) when it does
/// not run. In CI a missing API server fails the test: it must never pass by skipping.
pub fn kubeconfig() -> Option<String> {
    match std::env::var("EYRIE_TEST_KUBECONFIG") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "EYRIE_TEST_KUBECONFIG is not set in CI: .ci/run must start scripts/kube-apiserver"
            )
        }
        _ => {
            eprintln!(
                "skipped: no test API server. Run `scripts/kube-apiserver build && scripts/kube-apiserver start DIR`, \
                 then `source DIR/env` to run the kubernetes driver tests"
            );
            None
        }
    }
}

/// A client of the test API server from kubeconfig `path`.
pub async fn client(path: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The objects of one kind in `namespace`.
pub fn namespaced(
    client: &Client,
    namespace: &str,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource(api_version, kind, plural),
    )
}

/// Runs the stand-in controllers on `namespace` until the guard is dropped.
pub fn start_controllers(client: Client, namespace: &str) -> ControllersGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        while !token.is_cancelled() {
            reconcile(&client, &namespace).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    ControllersGuard(stop)
}

/// Stops the controllers when dropped.
pub struct ControllersGuard(CancellationToken);

impl Drop for ControllersGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn objects(api: &Api<DynamicObject>) -> Vec<DynamicObject> {
    api.list(&ListParams::default())
        .await
        .map(|list| list.items)
        .unwrap_or_default()
}

async fn set_status(api: &Api<DynamicObject>, object: &DynamicObject, status: Value) {
    let current = object.data.get("status").cloned().unwrap_or(Value::Null);
    let merged_differs = status
        .as_object()
        .is_some_and(|wanted| wanted.iter().any(|(k, v)| current.get(k) != Some(v)));
    if merged_differs {
        let name = object.metadata.name.clone().unwrap_or_default();
        let _ = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await;
    }
}

async fn reconcile(client: &Client, namespace: &str) {
    for (kind, plural, ready_field) in [
        ("Deployment", "deployments", "availableReplicas"),
        ("StatefulSet", "statefulsets", "readyReplicas"),
    ] {
        let api = namespaced(client, namespace, "apps/v1", kind, plural);
        for object in objects(&api).await {
            let replicas = object.data["spec"]["replicas"].as_i64().unwrap_or(1);
            let mut status = json!({"replicas": replicas, "readyReplicas": replicas, "observedGeneration": object.metadata.generation});
            status[ready_field] = json!(replicas);
            if kind == "Deployment" {
                status["availableReplicas"] = json!(replicas);
                status["updatedReplicas"] = json!(replicas);
            }
            set_status(&api, &object, status).await;
        }
    }
    let jobs = namespaced(client, namespace, "batch/v1", "Job", "jobs");
    for object in objects(&jobs).await {
        set_status(
            &jobs,
            &object,
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        )
        .await;
    }
    let clusters = namespaced(
        client,
        namespace,
        "pxc.percona.com/v1",
        "PerconaXtraDBCluster",
        "perconaxtradbclusters",
    );
    for object in objects(&clusters).await {
        let state = if object.data["spec"]["pause"] == true {
            "paused"
        } else {
            "ready"
        };
        set_status(&clusters, &object, json!({"state": state})).await;
    }
    let postgres = namespaced(
        client,
        namespace,
        "postgres-operator.crunchydata.com/v1beta1",
        "PostgresCluster",
        "postgresclusters",
    );
    for object in objects(&postgres).await {
        let name = object.metadata.name.clone().unwrap_or_default();
        let user = object.data["spec"]["users"][0]["name"]
            .as_str()
            .unwrap_or(&name)
            .to_owned();
        let secrets = namespaced(client, namespace, "v1", "Secret", "secrets");
        let secret: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{name}-pguser-{user}"), "namespace": namespace},
            "stringData": {"password": "test"},
        }))
        .unwrap();
        let _ = secrets.create(&PostParams::default(), &secret).await;
        let replicas = if object.data["spec"]["shutdown"] == true {
            0
        } else {
            1
        };
        let repo_host = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": format!("{name}-repo-host"), "namespace": namespace},
            "spec": {
                "replicas": replicas, "serviceName": format!("{name}-repo-host"),
                "selector": {"matchLabels": {"repo-host": name}},
                "template": {"metadata": {"labels": {"repo-host": name}}, "spec": {"containers": [{"name": "pgbackrest", "image": "pgbackrest"}]}},
            },
        });
        let statefulsets = namespaced(client, namespace, "apps/v1", "StatefulSet", "statefulsets");
        let _ = statefulsets
            .patch(
                &format!("{name}-repo-host"),
                &PatchParams::apply("pgo").force(),
                &Patch::Apply(repo_host),
            )
            .await;
    }
}
