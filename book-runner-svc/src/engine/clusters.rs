//! Turning a snapshot's cluster facts into a driver the steps can use.

use std::{path::PathBuf, sync::Arc};

use crate::{
    cluster::{
        Cluster,
        directory::DirectoryCluster,
        kubernetes::{Connection, KubernetesClusters},
    },
    domain::snapshot::{ClusterConnection, ClusterFacts},
};

/// Builds cluster drivers; Kubernetes clients (and their discovery) are shared by every job.
#[derive(Clone)]
pub struct ClusterProvider {
    directory_root: PathBuf,
    kubernetes: Arc<KubernetesClusters>,
}

impl ClusterProvider {
    /// Resolves relative `directory` cluster paths against `directory_root`.
    pub fn new(directory_root: impl Into<PathBuf>) -> Self {
        Self {
            directory_root: directory_root.into(),
            kubernetes: Arc::default(),
        }
    }

    /// The driver for `cluster`, or why there is none.
    pub fn connect(&self, cluster: &ClusterFacts) -> Result<Arc<dyn Cluster>, String> {
        match &cluster.connection {
            ClusterConnection::Directory { path } => {
                if path.is_empty() {
                    return Err(format!(
                        "cluster {}: the directory path is empty",
                        cluster.name
                    ));
                }
                Ok(Arc::new(DirectoryCluster::new(
                    self.directory_root.join(path),
                )))
            }
            ClusterConnection::Kubernetes {
                in_cluster: true, ..
            } => Ok(self.kubernetes.get(Connection::InCluster)),
            ClusterConnection::Kubernetes {
                kubeconfig_path,
                context,
                ..
            } => {
                if kubeconfig_path.is_empty() {
                    return Err(format!(
                        "cluster {}: no kubeconfig path and not in-cluster",
                        cluster.name
                    ));
                }
                Ok(self.kubernetes.get(Connection::Kubeconfig {
                    path: PathBuf::from(kubeconfig_path),
                    context: context.clone(),
                }))
            }
        }
    }
}
