//! The `kubernetes` driver: a real API server through the kube crate.
//!
//! Applies are server-side applies with field manager `eyrie`, so retries are idempotent and
//! conflicts with other managers are reported instead of overwritten. Kinds, custom resources
//! included, are resolved through discovery once per cluster; waits use watches.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use kube::{
    Api, Client, Config,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    },
    config::{KubeConfigOptions, Kubeconfig},
    discovery::{ApiCapabilities, Scope},
};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{ApplyOutcome, Cluster, ClusterError, Condition, DeleteOutcome, ObjectRef};
use crate::domain::confinement::ObjectScope;

/// The field manager every write uses.
pub const FIELD_MANAGER: &str = "eyrie";

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

/// One Kubernetes cluster.
pub struct KubernetesCluster {
    connection: Connection,
    client: OnceCell<Client>,
    /// The API server's address, named in errors about reaching it.
    server: std::sync::OnceLock<String>,
    /// Discovery results by (apiVersion, kind): resolved once, reused by every step.
    kinds: Mutex<HashMap<(String, String), (ApiResource, ApiCapabilities)>>,
}

impl KubernetesCluster {
    /// A cluster reached through `connection`; nothing connects before the first operation.
    pub fn new(connection: Connection) -> Self {
        Self {
            connection,
            client: OnceCell::new(),
            server: std::sync::OnceLock::new(),
            kinds: Mutex::default(),
        }
    }

    /// A cluster served by an existing client (tests give a mock).
    pub fn with_client(client: Client) -> Self {
        Self {
            connection: Connection::InCluster,
            client: OnceCell::new_with(Some(client)),
            server: std::sync::OnceLock::new(),
            kinds: Mutex::default(),
        }
    }

    async fn client(&self) -> Result<Client, ClusterError> {
        self.client
            .get_or_try_init(|| async {
                let config = match &self.connection {
                    Connection::Kubeconfig { path, context } => {
                        let kubeconfig = Kubeconfig::read_from(path).map_err(|err| {
                            ClusterError::Unavailable(format!(
                                "kubeconfig {}: {err}",
                                path.display()
                            ))
                        })?;
                        let options = KubeConfigOptions {
                            context: Some(context.clone()).filter(|c| !c.is_empty()),
                            ..KubeConfigOptions::default()
                        };
                        Config::from_custom_kubeconfig(kubeconfig, &options)
                            .await
                            .map_err(|err| {
                                ClusterError::Unavailable(format!(
                                    "kubeconfig {}: {err}",
                                    path.display()
                                ))
                            })?
                    }
                    Connection::InCluster => Config::incluster().map_err(|err| {
                        ClusterError::Unavailable(format!("in-cluster configuration: {err}"))
                    })?,
                };
                let _ = self.server.set(config.cluster_url.to_string());
                Client::try_from(config).map_err(|err| {
                    ClusterError::Unavailable(format!("cannot build a client: {err}"))
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
        None => ClusterError::Unavailable(format!(
            "cannot reach the API server {} for {target}: {err}",
            server.unwrap_or("(address unknown)")
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

    async fn wait_for(
        &self,
        target: &ObjectRef,
        condition: &Condition,
    ) -> Result<(), ClusterError> {
        let api = self.api(target).await?;
        let condition = condition.clone();
        let holds = move |object: Option<&DynamicObject>| {
            let value = object.and_then(|object| serde_json::to_value(object).ok());
            condition.is_met(value.as_ref())
        };
        kube::runtime::wait::await_condition(api, &target.name, holds)
            .await
            .map_err(|err| ClusterError::Unavailable(format!("watching {target}: {err}")))?;
        Ok(())
    }
}

/// Clusters by connection, so jobs share clients and discovery.
#[derive(Default)]
pub struct KubernetesClusters {
    clusters: Mutex<HashMap<Connection, Arc<KubernetesCluster>>>,
}

impl KubernetesClusters {
    /// The cluster reached through `connection`, created on first use.
    pub fn get(&self, connection: Connection) -> Arc<KubernetesCluster> {
        self.clusters
            .lock()
            .expect("cluster cache")
            .entry(connection.clone())
            .or_insert_with(|| Arc::new(KubernetesCluster::new(connection)))
            .clone()
    }
}

#[cfg(test)]
mod tests;
