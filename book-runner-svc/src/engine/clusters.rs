//! Turning a snapshot's cluster facts into a driver the steps can use.

use std::{path::PathBuf, sync::Arc};

use crate::{
    cluster::{Cluster, directory::DirectoryCluster},
    domain::snapshot::{ClusterConnection, ClusterFacts},
};

/// Builds cluster drivers.
#[derive(Debug, Clone)]
pub struct ClusterProvider {
    directory_root: PathBuf,
}

impl ClusterProvider {
    /// Resolves relative `directory` cluster paths against `directory_root`.
    pub fn new(directory_root: impl Into<PathBuf>) -> Self {
        Self {
            directory_root: directory_root.into(),
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
            ClusterConnection::Kubernetes { .. } => Err(format!(
                "cluster {}: this runner has no kubernetes driver yet; use a directory cluster",
                cluster.name
            )),
        }
    }
}
