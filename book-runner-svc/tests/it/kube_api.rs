//! Access to the real test API server (see `scripts/kube-apiserver`), and the simulated
//! controllers and operators acting through it as the real ones do.

use std::time::{Duration, SystemTime};

use eyrie_book_runner_svc::cluster::simulation::{Change, Faults, KINDS, reconcile_namespace};
use kube::{
    Api, Client, Config,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;
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

/// Runs the simulated controllers and operators (`cluster::simulation`) on `namespace` until
/// the guard is dropped.
pub fn start_controllers(client: Client, namespace: &str) -> ControllersGuard {
    start_controllers_with_faults(client, namespace, Faults::default())
}

/// Runs the simulated controllers on `namespace`, playing `faults`, until the guard is dropped.
pub fn start_controllers_with_faults(
    client: Client,
    namespace: &str,
    faults: Faults,
) -> ControllersGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        while !token.is_cancelled() {
            reconcile(&client, &namespace, &faults).await;
            tokio::time::sleep(RECONCILE_INTERVAL).await;
        }
    });
    ControllersGuard(stop)
}

/// How often the controllers read the namespace again.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(100);

/// Stops the controllers when dropped.
pub struct ControllersGuard(CancellationToken);

impl Drop for ControllersGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn api_of(client: &Client, namespace: &str, kind: &str) -> Option<Api<DynamicObject>> {
    let known = KINDS.iter().find(|known| known.kind == kind)?;
    Some(namespaced(
        client,
        namespace,
        known.api_version,
        known.kind,
        known.plural,
    ))
}

/// One pass: reads every kind the simulation knows in `namespace`, and writes what its
/// controllers change, as they would: `/status` for statuses, updates carrying the resource
/// version they read (a conflict waits for the next pass), owned objects with owner references
/// (the API server's garbage collector deletes them with their owner).
async fn reconcile(client: &Client, namespace: &str, faults: &Faults) {
    let mut objects = Vec::new();
    for kind in KINDS {
        let api = namespaced(client, namespace, kind.api_version, kind.kind, kind.plural);
        // A kind the server does not serve (no CRD installed) has no objects.
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        for item in list.items {
            let mut object = serde_json::to_value(item).unwrap_or_default();
            // Items of a list carry no apiVersion and kind.
            object["apiVersion"] = json!(kind.api_version);
            object["kind"] = json!(kind.kind);
            objects.push(object);
        }
    }
    for change in reconcile_namespace(&objects, faults, SystemTime::now()) {
        let target = change.target();
        let Some(api) = api_of(client, namespace, &target.kind) else {
            continue;
        };
        // Errors (a conflict, a namespace being deleted) are retried by the next pass.
        let _ = match &change {
            Change::Create(object) => match serde_json::from_value::<DynamicObject>(object.clone())
            {
                Ok(object) => api.create(&PostParams::default(), &object).await.map(drop),
                Err(_) => Ok(()),
            },
            Change::Update(object) => match serde_json::from_value::<DynamicObject>(object.clone())
            {
                Ok(object) => api
                    .replace(&target.name, &PostParams::default(), &object)
                    .await
                    .map(drop),
                Err(_) => Ok(()),
            },
            Change::Status { status, .. } => {
                let seen = objects.iter().find(|object| {
                    object["kind"] == target.kind.as_str()
                        && object["metadata"]["name"] == target.name.as_str()
                });
                let Some(mut written) = seen.cloned() else {
                    continue;
                };
                written["status"] = status.clone();
                match serde_json::from_value::<DynamicObject>(written) {
                    Ok(object) => api
                        .replace_status(&target.name, &PostParams::default(), &object)
                        .await
                        .map(drop),
                    Err(_) => Ok(()),
                }
            }
            Change::Delete(_) => api
                .delete(&target.name, &DeleteParams::default())
                .await
                .map(drop),
        };
    }
}
