//! Turning a snapshot's cluster facts into a driver the steps can use.
//!
//! A connection can reach nothing of the runner's own: a `directory` cluster is a folder under
//! the configured root and nowhere else, a `kubernetes` cluster is talked to as the job's
//! project (impersonation), and its kubeconfig may use credential plugins, token files or the
//! runner's own service account only when the runner's configuration allows them.

use std::{
    io,
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use crate::{
    cluster::{
        Cluster,
        directory::DirectoryCluster,
        kubernetes::{Connection, CredentialPolicy, Identity, KubernetesClusters},
        simulated::Simulations,
    },
    config::RunnerSettings,
    domain::snapshot::{ClusterConnection, ClusterFacts, NamedFacts},
};

/// Builds cluster drivers; Kubernetes clients (and their discovery) are shared by the jobs of
/// one project on one connection.
#[derive(Clone)]
pub struct ClusterProvider {
    directory_root: PathBuf,
    simulations: Arc<Simulations>,
    policy: CredentialPolicy,
    kubernetes: Arc<KubernetesClusters>,
}

impl ClusterProvider {
    /// Directory clusters under `settings.directory_root`, Kubernetes credentials as
    /// `settings.kubernetes` allows.
    pub fn new(settings: &RunnerSettings) -> Self {
        Self {
            directory_root: settings.directory_root.clone(),
            simulations: Arc::new(Simulations::new(settings.simulated_pass_interval)),
            policy: settings.kubernetes,
            kubernetes: Arc::new(KubernetesClusters::new(settings.kubernetes)),
        }
    }

    /// The driver for `cluster`, used by a job of `project`, or why there is none.
    pub fn connect(
        &self,
        cluster: &ClusterFacts,
        project: &NamedFacts,
    ) -> Result<Arc<dyn Cluster>, String> {
        let refused = |reason: String| format!("cluster {}: {reason}", cluster.name);
        match &cluster.connection {
            ClusterConnection::Directory { path, simulated } => {
                let folder = directory_in_root(&self.directory_root, path).map_err(refused)?;
                Ok(Arc::new(if *simulated {
                    let controllers = self.simulations.controllers_of(&folder);
                    DirectoryCluster::simulated(folder, controllers)
                } else {
                    DirectoryCluster::new(folder)
                }))
            }
            ClusterConnection::Kubernetes {
                in_cluster: true, ..
            } => {
                self.policy.check_in_cluster().map_err(refused)?;
                let identity = Identity::project(&project.slug).map_err(refused)?;
                Ok(self.kubernetes.get(Connection::InCluster, identity))
            }
            ClusterConnection::Kubernetes {
                kubeconfig_path,
                context,
                ..
            } => {
                if kubeconfig_path.is_empty() {
                    return Err(refused("no kubeconfig path and not in-cluster".to_owned()));
                }
                let path = PathBuf::from(kubeconfig_path);
                // Checked now so that a refused kubeconfig fails the job at once, naming the
                // field; the driver checks it again whenever it reads it.
                self.policy
                    .load_kubeconfig(&path, context)
                    .map_err(refused)?;
                let identity = Identity::project(&project.slug).map_err(refused)?;
                Ok(self.kubernetes.get(
                    Connection::Kubeconfig {
                        path,
                        context: context.clone(),
                    },
                    identity,
                ))
            }
        }
    }

    /// The Kubernetes clients built so far.
    pub fn kubernetes(&self) -> &KubernetesClusters {
        &self.kubernetes
    }
}

/// The folder of a `directory` cluster at `path` (relative to `root`, or absolute inside it),
/// refused when it is outside `root`: absolute elsewhere, climbing with `..`, or reached through
/// a symbolic link that leads out. `root` is created if missing.
pub fn directory_in_root(root: &Path, path: &str) -> Result<PathBuf, String> {
    let outside = |why: &str| {
        format!(
            "directory {path:?} {why}; directory clusters live in folders under the runner's \
             directory root {} (runner.directory_root)",
            root.display()
        )
    };
    if path.is_empty() {
        return Err("the directory path is empty".to_owned());
    }
    let requested = Path::new(path);
    if requested
        .components()
        .any(|component| component == Component::ParentDir)
    {
        return Err(outside("climbs with '..'"));
    }
    let root_absolute = std::path::absolute(root).map_err(|err| root_error(root, &err))?;
    std::fs::create_dir_all(&root_absolute).map_err(|err| root_error(root, &err))?;
    let root_real = root_absolute
        .canonicalize()
        .map_err(|err| root_error(root, &err))?;
    let relative = if requested.is_absolute() {
        requested
            .strip_prefix(&root_absolute)
            .or_else(|_| requested.strip_prefix(&root_real))
            .map_err(|_| outside("is outside it"))?
    } else {
        requested
    };
    let parts: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        return Err(outside("is the root itself, not a folder in it"));
    }
    // The deepest part that exists, resolved: a symbolic link on the way cannot lead out.
    let mut existing = parts.len();
    let real = loop {
        let candidate = parts[..existing]
            .iter()
            .fold(root_real.clone(), |folder, part| folder.join(part));
        match candidate.canonicalize() {
            Ok(real) => break real,
            Err(err) if err.kind() == io::ErrorKind::NotFound && existing > 0 => existing -= 1,
            Err(err) => return Err(format!("directory {path:?}: {err}")),
        }
    };
    if !real.starts_with(&root_real) || (real == root_real && existing == parts.len()) {
        return Err(outside(&format!(
            "leads to {} through a symbolic link",
            real.display()
        )));
    }
    Ok(parts[existing..]
        .iter()
        .fold(real, |folder, part| folder.join(part)))
}

fn root_error(root: &Path, err: &io::Error) -> String {
    format!(
        "the runner's directory root {} cannot be used: {err}",
        root.display()
    )
}

#[cfg(test)]
mod tests;
