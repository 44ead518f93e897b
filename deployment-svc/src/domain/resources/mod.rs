//! Projects, scopes, clusters, deployment groups and deployments: their types and the rules
//! that do not need storage.

mod boundary;
mod deployment;
mod group;
mod type_limits;

use chrono::{DateTime, Utc};
use eyrie_platform::violation::FieldViolation;

pub use boundary::Boundary;
pub use deployment::{
    Deployment, DeploymentField, DeploymentQuery, DeploymentUpdate, KeyFields, NewDeployment,
    namespace_candidates, reference_violations,
};
pub use group::{
    BOOK_PHASES, BookPhase, DeploymentGroup, GroupBooks, GroupField, GroupUpdate, NewGroup,
    book_field,
};

use super::names::{ClusterName, ProjectName, ScopeName};

/// The kind of application a group runs; it selects the built-in books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentType {
    /// An Odoo application server.
    Odoo,
    /// A PostgreSQL cluster run by the Crunchy PGO operator.
    Pgo,
    /// A MySQL cluster run by the Percona XtraDB Cluster operator.
    Pxc,
    /// A generic application: a Deployment and a Service of the image.
    None,
}

impl DeploymentType {
    /// Every type.
    pub const ALL: [Self; 4] = [Self::Odoo, Self::Pgo, Self::Pxc, Self::None];

    /// The stored and templated form: `odoo`, `pgo`, `pxc`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Odoo => "odoo",
            Self::Pgo => "pgo",
            Self::Pxc => "pxc",
            Self::None => "none",
        }
    }

    /// Reads [`Self::as_str`]'s form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether deployments of this type must name a repository and a branch. Odoo builds run
    /// addons from a repository; PGO and PXC run operator images and a generic app runs its
    /// image, so for them the source is optional (kept for the record when given).
    pub fn requires_source(self) -> bool {
        matches!(self, Self::Odoo)
    }

    /// Whether deployments of this type must name an image. The PGO and PXC books fall back to
    /// the operator's default image (or a book parameter) when it is empty.
    pub fn requires_image(self) -> bool {
        matches!(self, Self::Odoo | Self::None)
    }
}

/// Lifecycle state of a deployment: draft → initialize → deploy → pause (→ deploy), dropped.
pub use crate::domain::state::State as DeploymentState;

/// Who asks for a change, and the idempotency key they sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    /// The caller identity forwarded by the gateway (`x-eyrie-actor`), `anonymous` without one.
    pub actor: String,
    /// The request's `request_id`, when not empty.
    pub request_id: Option<String>,
}

/// A project. Name `projects/{project}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its name; the slug is `name.project`.
    pub name: ProjectName,
    /// Human-readable name.
    pub display_name: String,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// What its books may touch besides each deployment's own namespace.
    pub boundary: Boundary,
    /// Counter bumped by every change; the etag is made of it.
    pub revision: i64,
}

impl Project {
    /// The etag clients send back to update the project.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// A project to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// Its name.
    pub name: ProjectName,
    /// Human-readable name.
    pub display_name: String,
    /// What its books may touch besides each deployment's own namespace.
    pub boundary: Boundary,
}

/// A project field an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectField {
    /// `display_name`.
    DisplayName,
    /// `boundary`, replaced whole.
    Boundary,
}

impl ProjectField {
    /// Reads one path of `update_mask`.
    pub fn parse(path: &str) -> Result<Self, FieldViolation> {
        match path {
            "display_name" => Ok(Self::DisplayName),
            "boundary" => Ok(Self::Boundary),
            "name" | "slug" | "etag" | "create_time" => Err(FieldViolation::new(
                "update_mask",
                format!("{path} is output only"),
            )),
            _ => Err(FieldViolation::new(
                "update_mask",
                format!("unknown field {path:?}: use display_name or boundary"),
            )),
        }
    }
}

/// A field-mask update of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectUpdate {
    /// The project.
    pub name: ProjectName,
    /// The etag the caller read, when sent.
    pub etag: Option<String>,
    /// The fields to change.
    pub fields: Vec<ProjectField>,
    /// New display name, when `fields` has it.
    pub display_name: String,
    /// New boundary, when `fields` has it.
    pub boundary: Boundary,
}

impl ProjectUpdate {
    /// `project` with this update applied.
    pub fn apply(&self, project: &Project) -> Project {
        let mut next = project.clone();
        for field in &self.fields {
            match field {
                ProjectField::DisplayName => next.display_name.clone_from(&self.display_name),
                ProjectField::Boundary => next.boundary = self.boundary.clone(),
            }
        }
        next
    }
}

/// An environment tier of a project. Name `projects/{project}/scopes/{scope}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Its name.
    pub name: ScopeName,
    /// Human-readable name.
    pub display_name: String,
    /// Whether its deployments may be dropped.
    pub allow_drop: bool,
    /// When it was created.
    pub create_time: DateTime<Utc>,
}

/// A scope to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScope {
    /// Its name.
    pub name: ScopeName,
    /// Human-readable name.
    pub display_name: String,
    /// Whether its deployments may be dropped.
    pub allow_drop: bool,
}

/// How the book-runner reaches a cluster; the variant is the cluster's driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterConnection {
    /// Driver `kubernetes`: an API server.
    Kubernetes {
        /// Kubeconfig file on the runner's host; ignored with `in_cluster`.
        kubeconfig_path: String,
        /// Context of the kubeconfig; empty for its current one.
        context: String,
        /// Use the runner pod's service account.
        in_cluster: bool,
    },
    /// Driver `directory`: manifest files in a folder.
    Directory {
        /// Absolute path of the folder on the runner's host.
        path: String,
        /// The runner plays the Kubernetes controllers on the folder's files.
        simulated: bool,
    },
}

impl ClusterConnection {
    /// The driver's stored name, `kubernetes` or `directory`.
    pub fn driver(&self) -> &'static str {
        match self {
            Self::Kubernetes { .. } => "kubernetes",
            Self::Directory { .. } => "directory",
        }
    }
}

/// A place where deployments run. Name `projects/{project}/clusters/{cluster}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its name.
    pub name: ClusterName,
    /// Human-readable name.
    pub display_name: String,
    /// How to reach it.
    pub connection: ClusterConnection,
    /// When it was created.
    pub create_time: DateTime<Utc>,
}

/// A cluster to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCluster {
    /// Its name.
    pub name: ClusterName,
    /// Human-readable name.
    pub display_name: String,
    /// How to reach it.
    pub connection: ClusterConnection,
}

/// Where a page of a list starts and how long it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Resource name of the last item of the previous page; `None` for the first page.
    pub after: Option<String>,
    /// Most items to return.
    pub limit: u64,
}

/// One page of a list ordered by resource name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Resource name of the last item when another page follows.
    pub next_after: Option<String>,
}

/// The etag of a revision: `r{revision}` (e.g. `r3`).
pub fn etag_of(revision: i64) -> String {
    format!("r{revision}")
}

/// Whether `etag` (as sent by a client) is the etag of `revision`.
pub fn etag_matches(etag: &str, revision: i64) -> bool {
    etag.trim_matches('"') == etag_of(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_stored_form() {
        for t in DeploymentType::ALL {
            assert_eq!(DeploymentType::parse(t.as_str()), Some(t));
        }
        for s in DeploymentState::ALL {
            assert_eq!(DeploymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeploymentType::parse("ODOO"), None);
        assert_eq!(DeploymentState::parse(""), None);
    }

    #[test]
    fn etags_follow_revisions() {
        assert_eq!(etag_of(3), "r3");
        assert!(etag_matches("r3", 3));
        assert!(etag_matches("\"r3\"", 3));
        assert!(!etag_matches("r2", 3));
        assert!(!etag_matches("", 3));
    }
}
