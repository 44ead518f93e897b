//! What a job knows of its deployment: a snapshot taken by deployment-svc when it started the
//! job, so the runner never reads another service's tables.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::confinement::Boundary;

/// Everything a book's templates and a job need about one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The deployment.
    pub deployment: DeploymentFacts,
    /// Its project.
    pub project: NamedFacts,
    /// Its deployment group.
    pub group: GroupFacts,
    /// Its scope.
    pub scope: ScopeFacts,
    /// The clusters it runs on, in order.
    pub clusters: Vec<ClusterFacts>,
    /// The Kubernetes namespace of the deployment.
    pub namespace: String,
    /// Current version number.
    pub version: i64,
    /// Deployment revision.
    pub revision: i64,
    /// What the project's books may touch besides the namespace (not shown to templates).
    /// Absent from jobs stored before projects had one.
    #[serde(default)]
    pub boundary: Boundary,
    /// Namespaces of the project's other deployments that are not dropped, without this one's:
    /// a job may read there, never write (not shown to templates). Absent from jobs stored
    /// before snapshots had them.
    #[serde(default)]
    pub project_namespaces: Vec<String>,
}

/// The deployment's own fields, flat as templates see them (`deployment.image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFacts {
    /// Resource name.
    pub name: String,
    /// DNS-1123 label; books use it for object names.
    pub slug: String,
    /// Human-readable name.
    pub display_name: String,
    /// Source repository.
    pub repository: String,
    /// Git branch.
    pub branch: String,
    /// Container image.
    pub image: String,
    /// Commit or ref.
    pub commit_ref: String,
    /// Cluster resource names.
    pub clusters: Vec<String>,
    /// Scope resource name.
    pub scope: String,
    /// Parameters the books read.
    pub parameters: BTreeMap<String, String>,
    /// Lifecycle state, lower case.
    pub state: String,
}

/// A resource known by name, slug and title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFacts {
    /// Resource name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Title.
    pub display_name: String,
}

/// The deployment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFacts {
    /// Resource name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Title.
    pub display_name: String,
    /// Deployment type, lower case.
    #[serde(rename = "type")]
    pub deployment_type: String,
}

/// The scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeFacts {
    /// Resource name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Title.
    pub display_name: String,
    /// Whether Drop is allowed.
    pub allow_drop: bool,
}

/// One cluster and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterFacts {
    /// Resource name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Title.
    pub display_name: String,
    /// How to reach it.
    pub connection: ClusterConnection,
}

/// How to reach a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "driver")]
pub enum ClusterConnection {
    /// A real API server.
    Kubernetes {
        /// Kubeconfig file; empty with `in_cluster`.
        kubeconfig_path: String,
        /// Context in the kubeconfig; empty for its current one.
        context: String,
        /// Use the pod's service account.
        in_cluster: bool,
    },
    /// A folder of manifests.
    Directory {
        /// The folder.
        path: String,
        /// The runner plays the Kubernetes controllers on the folder's files.
        #[serde(default)]
        simulated: bool,
    },
}

impl ClusterConnection {
    /// Driver name, as templates see it (`cluster.driver`).
    pub fn driver(&self) -> &'static str {
        match self {
            Self::Kubernetes { .. } => "kubernetes",
            Self::Directory { .. } => "directory",
        }
    }

    /// Whether the runner plays the cluster's controllers itself (nothing runs for real).
    pub fn is_simulated(&self) -> bool {
        matches!(
            self,
            Self::Directory {
                simulated: true,
                ..
            }
        )
    }
}

/// A snapshot with plausible values, for validating books without a real deployment and for
/// tests: `parameters` become the deployment's parameters.
pub fn sample_snapshot(parameters: &[(&str, &str)]) -> Snapshot {
    let named = |kind: &str, slug: &str| NamedFacts {
        name: format!("{kind}/{slug}"),
        slug: slug.to_owned(),
        display_name: format!("Sample {slug}"),
    };
    Snapshot {
        deployment: DeploymentFacts {
            name: "projects/sample/groups/sample/deployments/sample".to_owned(),
            slug: "sample".to_owned(),
            display_name: "Sample".to_owned(),
            repository: "https://git.example/sample.git".to_owned(),
            branch: "main".to_owned(),
            image: "registry.example/app:1.0".to_owned(),
            commit_ref: "0000000".to_owned(),
            clusters: vec!["projects/sample/clusters/sample".to_owned()],
            scope: "projects/sample/scopes/sample".to_owned(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            state: "deploy".to_owned(),
        },
        project: named("projects", "sample"),
        group: GroupFacts {
            name: "projects/sample/groups/sample".to_owned(),
            slug: "sample".to_owned(),
            display_name: "Sample".to_owned(),
            deployment_type: "none".to_owned(),
        },
        scope: ScopeFacts {
            name: "projects/sample/scopes/sample".to_owned(),
            slug: "sample".to_owned(),
            display_name: "Sample".to_owned(),
            allow_drop: true,
        },
        clusters: vec![ClusterFacts {
            name: "projects/sample/clusters/sample".to_owned(),
            slug: "sample".to_owned(),
            display_name: "Sample".to_owned(),
            connection: ClusterConnection::Directory {
                path: "sample".to_owned(),
                simulated: false,
            },
        }],
        namespace: "sample-ns".to_owned(),
        version: 1,
        revision: 1,
        boundary: Boundary::default(),
        project_namespaces: Vec::new(),
    }
}
