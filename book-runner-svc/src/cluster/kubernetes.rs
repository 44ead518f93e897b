//! The `kubernetes` driver: a real API server through the kube crate.
//!
//! Applies are server-side applies with field manager `eyrie`, so retries are idempotent and
//! conflicts with other managers are reported instead of overwritten. Kinds, custom resources
//! included, are resolved through discovery once per cluster; waits use watches. Jobs talk to a
//! cluster as their project ([`Identity`], through impersonation), so the API server's RBAC is
//! a second wall behind the runner's own confinement.

mod access;

use std::{
    collections::HashMap,
    path::PathBuf,
    pin::pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::StreamExt as _;
use kube::{
    Api, Client, Config,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams,
    },
    config::KubeConfigOptions,
    discovery::{ApiCapabilities, Scope},
};
use serde_json::Value;
use tokio::sync::OnceCell;

pub use self::access::{CredentialPolicy, Identity, PROJECT_USER_PREFIX, PROJECTS_GROUP};
use self::access::{kubeconfig_error, redacted};
use super::{
    ApplyOutcome, Cluster, ClusterError, DeleteOutcome, ObjectRef, Selector, WaitProgress,
    WaitSpec, wait::Waiter,
};
use crate::domain::confinement::ObjectScope;

/// The field manager every write uses.
pub const FIELD_MANAGER: &str = "eyrie";

/// How often a wait lists pods again while they matter: pods change (a pull backs off) while
/// the workload's own status stays the same, and a listing costs the API server more than a
/// watch event.
const POD_INTERVAL: Duration = Duration::from_secs(2);

/// How many watch errors in a row end a wait, and the pause after each.
const WATCH_ATTEMPTS: u32 = 3;
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// How to reach an API server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Connection {
    /// A kubeconfig file, and a context in it (empty: its current context).
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The context.
        context: String,
    },
    /// The service account of the pod this runner runs in.
    InCluster,
}

/// One Kubernetes cluster, seen by one identity.
pub struct KubernetesCluster {
    connection: Connection,
    /// Who requests are sent as; `None`: the connection's own credentials (tests, tools).
    identity: Option<Identity>,
    /// Which credentials the connection may use.
    policy: CredentialPolicy,
    client: OnceCell<Client>,
    /// The API server's address, named in errors about reaching it.
    server: std::sync::OnceLock<String>,
    /// Discovery results by (apiVersion, kind): resolved once, reused by every step.
    kinds: Mutex<HashMap<(String, String), (ApiResource, ApiCapabilities)>>,
}

impl KubernetesCluster {
    /// A cluster reached through `connection`, as the connection's own user, with the default
    /// (strictest) credential policy; nothing connects before the first operation.
    pub fn new(connection: Connection) -> Self {
        Self {
            connection,
            identity: None,
            policy: CredentialPolicy::default(),
            client: OnceCell::new(),
            server: std::sync::OnceLock::new(),
            kinds: Mutex::default(),
        }
    }

    /// A cluster served by an existing client (tests give a mock).
    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::InCluster,
            identity: None,
            policy: CredentialPolicy::default(),
            client: OnceCell::new_with(Some(client)),
            server: std::sync::OnceLock::new(),
            kinds: Mutex::default(),
        }
    }

    /// Sends every request as `identity` (Kubernetes impersonation).
    pub fn impersonating(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Lets the connection use what `policy` allows.
    pub fn with_policy(mut self, policy: CredentialPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The identity requests are sent as, if not the connection's own.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    async fn client(&self) -> Result<Client, ClusterError> {
        self.client
            .get_or_try_init(|| async {
                let mut config = match &self.connection {
                    Connection::Kubeconfig { path, context } => {
                        let kubeconfig = self
                            .policy
                            .load_kubeconfig(path, context)
                            .map_err(ClusterError::Unavailable)?;
                        let options = KubeConfigOptions {
                            context: Some(context.clone()).filter(|c| !c.is_empty()),
                            ..KubeConfigOptions::default()
                        };
                        Config::from_custom_kubeconfig(kubeconfig, &options)
                            .await
                            .map_err(|err| {
                                ClusterError::Unavailable(format!(
                                    "kubeconfig {}: {}",
                                    path.display(),
                                    kubeconfig_error(&err)
                                ))
                            })?
                    }
                    Connection::InCluster => {
                        self.policy
                            .check_in_cluster()
                            .map_err(ClusterError::Unavailable)?;
                        Config::incluster().map_err(|err| {
                            ClusterError::Unavailable(format!("in-cluster configuration: {err}"))
                        })?
                    }
                };
                if let Some(identity) = &self.identity {
                    identity.impersonate_in(&mut config.auth_info);
                }
                let _ = self.server.set(config.cluster_url.to_string());
                Client::try_from(config).map_err(|err| {
                    ClusterError::Unavailable(format!("cannot build a client: {}", redacted(&err)))
                })
            })
            .await
            .cloned()
    }

    fn describe(&self, err: kube::Error, target: &ObjectRef) -> ClusterError {
        describe(err, target, self.server.get().map(String::as_str))
    }

    /// The resource and capabilities (scope) of `target`'s kind, from discovery, cached.
    async fn discover(
        &self,
        client: &Client,
        target: &ObjectRef,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        let key = (target.api_version.clone(), target.kind.clone());
        let cached = self
            .kinds
            .lock()
            .expect("discovery cache")
            .get(&key)
            .cloned();
        if let Some(found) = cached {
            return Ok(found);
        }
        let (group, version) = match target.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", target.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &target.kind);
        let found = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|err| match (&err, api_status(&err)) {
                (kube::Error::Discovery(_), _) | (_, Some((404, _, _))) => ClusterError::Refused {
                    reason: "NotFound".to_owned(),
                    message: format!(
                        "the cluster does not serve {} {}",
                        target.api_version, target.kind
                    ),
                },
                _ => self.describe(err, target),
            })?;
        self.kinds
            .lock()
            .expect("discovery cache")
            .insert(key, found.clone());
        Ok(found)
    }

    /// The API of `target`'s kind, in its namespace when the kind is namespaced.
    async fn api(&self, target: &ObjectRef) -> Result<Api<DynamicObject>, ClusterError> {
        let client = self.client().await?;
        let (resource, capabilities) = self.discover(&client, target).await?;
        Ok(match (capabilities.scope, &target.namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(client, namespace, &resource)
            }
            (Scope::Namespaced, None) => {
                return Err(ClusterError::InvalidManifest(format!(
                    "{target}: a {} needs a namespace",
                    target.kind
                )));
            }
            (Scope::Cluster, _) => Api::all_with(client, &resource),
        })
    }
}

/// The HTTP code, reason and message of an API server refusal.
fn api_status(err: &kube::Error) -> Option<(u16, &str, &str)> {
    match err {
        kube::Error::Api(status) => {
            Some((status.code, status.reason.as_str(), status.message.as_str()))
        }
        _ => None,
    }
}

/// Turns a client error into a step failure that says what the server answered, or that it
/// could not be reached.
fn describe(err: kube::Error, target: &ObjectRef, server: Option<&str>) -> ClusterError {
    match api_status(&err) {
        Some((409, "Conflict", message)) if message.contains("conflict with") => {
            conflict(target, message)
        }
        Some((code, reason, message)) => ClusterError::Refused {
            reason: if reason.is_empty() {
                format!("HTTP {code}")
            } else {
                reason.to_owned()
            },
            message: message.to_owned(),
        },
        // Not an answer of the server: the transport or the credentials failed. What a
        // credential plugin printed or a token file held never reaches the message.
        None => ClusterError::Unavailable(format!(
            "cannot reach the API server {} for {target}: {}",
            server.unwrap_or("(address unknown)"),
            redacted(&err)
        )),
    }
}

/// Reads `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`.
fn conflict(target: &ObjectRef, message: &str) -> ClusterError {
    let manager = message
        .split_once("conflict with \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("another manager", |(manager, _)| manager)
        .to_owned();
    let field = message
        .rsplit_once(": ")
        .map_or(message, |(_, field)| field)
        .trim()
        .to_owned();
    ClusterError::Conflict {
        object: target.to_string(),
        manager,
        field,
    }
}

fn resource_version(object: &DynamicObject) -> Option<&str> {
    object.metadata.resource_version.as_deref()
}

fn to_dynamic(manifest: &Value) -> Result<DynamicObject, ClusterError> {
    serde_json::from_value(manifest.clone())
        .map_err(|err| ClusterError::InvalidManifest(err.to_string()))
}

fn to_value(object: &DynamicObject) -> Result<Value, ClusterError> {
    serde_json::to_value(object).map_err(|err| ClusterError::InvalidManifest(err.to_string()))
}

#[async_trait]
impl Cluster for KubernetesCluster {
    async fn apply(&self, manifest: &Value, force: bool) -> Result<ApplyOutcome, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        let api = self.api(&target).await?;
        let before = api
            .get_opt(&target.name)
            .await
            .map_err(|err| self.describe(err, &target))?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        let after = api
            .patch(&target.name, &params, &Patch::Apply(manifest))
            .await
            .map_err(|err| self.describe(err, &target))?;
        Ok(match before {
            None => ApplyOutcome::Created,
            Some(before) if resource_version(&before) == resource_version(&after) => {
                ApplyOutcome::Unchanged
            }
            Some(_) => ApplyOutcome::Configured,
        })
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        let api = self.api(&target).await?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match api.create(&params, &to_dynamic(manifest)?).await {
            Ok(_) => Ok(true),
            Err(err) if matches!(api_status(&err), Some((409, "AlreadyExists", _))) => Ok(false),
            Err(err) => Err(self.describe(err, &target)),
        }
    }

    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError> {
        let api = self.api(target).await?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match api.patch(&target.name, &params, &Patch::Merge(patch)).await {
            Ok(_) => Ok(()),
            Err(err) if matches!(api_status(&err), Some((404, _, _))) => {
                Err(ClusterError::NotFound(target.to_string()))
            }
            Err(err) => Err(self.describe(err, target)),
        }
    }

    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        let api = self.api(target).await?;
        // Background propagation: a deleted Job takes its pods with it, as kubectl does.
        match api.delete(&target.name, &DeleteParams::background()).await {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(err) if matches!(api_status(&err), Some((404, _, _))) => {
                Ok(DeleteOutcome::NotFound)
            }
            Err(err) => Err(self.describe(err, target)),
        }
    }

    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let api = self.api(target).await?;
        match api
            .get_opt(&target.name)
            .await
            .map_err(|err| self.describe(err, target))?
        {
            Some(object) => to_value(&object).map(Some),
            None => Ok(None),
        }
    }

    async fn scope_of(&self, target: &ObjectRef) -> Result<ObjectScope, ClusterError> {
        let client = self.client().await?;
        Ok(match self.discover(&client, target).await?.1.scope {
            Scope::Namespaced => ObjectScope::Namespaced,
            Scope::Cluster => ObjectScope::Cluster,
        })
    }

    /// Watches the object, judging every version of it; while pods (or a lingering failure)
    /// matter, also looks again every [`POD_INTERVAL`] without a new version, as the pods are
    /// listed, not watched.
    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        let api = self.api(target).await?;
        let mut versions = pin!(kube::runtime::watcher::watch_object(api, &target.name));
        let mut waiter = Waiter::new(target, wait, progress, POD_INTERVAL);
        let mut latest: Option<Value> = None;
        let mut failed_watches = 0;
        loop {
            let next = if waiter.looks_again() {
                tokio::time::timeout(waiter.look_interval(), versions.next())
                    .await
                    .ok()
            } else {
                Some(versions.next().await)
            };
            match next {
                // No new version: the pods are read, and the object judged, again.
                None => {}
                Some(Some(Ok(version))) => {
                    failed_watches = 0;
                    latest = version.as_ref().map(to_value).transpose()?;
                }
                // The watcher lists and watches again after an error: an expired watch (410)
                // during a long wait is routine; one that keeps failing is not.
                Some(Some(Err(err))) => {
                    failed_watches += 1;
                    if failed_watches >= WATCH_ATTEMPTS {
                        return Err(ClusterError::Unavailable(format!(
                            "watching {target}: {}",
                            redacted(&err)
                        )));
                    }
                    tokio::time::sleep(WATCH_RETRY).await;
                    continue;
                }
                Some(None) => {
                    return Err(ClusterError::Unavailable(format!(
                        "watching {target}: the watch ended"
                    )));
                }
            }
            if let Some(ended) = waiter.observe(self, latest.as_ref()).await {
                return ended;
            }
        }
    }

    async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError> {
        let listed = ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: "*".to_owned(),
        };
        let client = self.client().await?;
        let (resource, capabilities) = self.discover(&client, &listed).await?;
        if capabilities.scope != Scope::Namespaced {
            return Err(ClusterError::InvalidManifest(format!(
                "{kind} is cluster-scoped: lists are of one namespace"
            )));
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &resource);
        let params = ListParams::default().labels(&selector.to_query());
        let objects = api
            .list(&params)
            .await
            .map_err(|err| self.describe(err, &listed))?;
        objects.items.iter().map(to_value).collect()
    }
}

/// Clusters by connection and identity, so the jobs of one project share a client and its
/// discovery, and no job ever uses a client that impersonates another project.
#[derive(Default)]
pub struct KubernetesClusters {
    policy: CredentialPolicy,
    clusters: Mutex<HashMap<(Connection, Identity), Arc<KubernetesCluster>>>,
}

impl KubernetesClusters {
    /// Clusters whose connections may use what `policy` allows.
    pub fn new(policy: CredentialPolicy) -> Self {
        Self {
            policy,
            clusters: Mutex::default(),
        }
    }

    /// The cluster reached through `connection` as `identity`, created on first use.
    pub fn get(&self, connection: Connection, identity: Identity) -> Arc<KubernetesCluster> {
        self.clusters
            .lock()
            .expect("cluster cache")
            .entry((connection.clone(), identity.clone()))
            .or_insert_with(|| {
                Arc::new(
                    KubernetesCluster::new(connection)
                        .impersonating(identity)
                        .with_policy(self.policy),
                )
            })
            .clone()
    }

    /// How many clients are cached (one per connection and identity).
    pub fn len(&self) -> usize {
        self.clusters.lock().expect("cluster cache").len()
    }

    /// Whether no client is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
