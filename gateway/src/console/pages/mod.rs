//! One module per page; what several pages show alike is here.

pub mod actions;
pub mod deployment;
pub mod group;
pub mod job;
pub mod new_deployment;
pub mod project;
pub mod projects;
pub mod sign_in;

use eyrie_proto::v1 as pb;

use super::{
    SignedIn,
    error::PageError,
    view::{self, Badge},
};

/// Most items a list page asks for in one call (the API's largest page).
const PAGE_SIZE: i32 = 1000;

/// A resource id from the URL, refused as not found unless it is a DNS-1123 label (so that a
/// decoded `%2F` cannot make another resource name).
fn id(value: &str) -> Result<&str, PageError> {
    eyrie_platform::names::validate_slug("id", value)
        .map(|()| value)
        .map_err(|_| PageError::NotFound("There is no such page.".to_owned()))
}

/// A scope as pages show it.
pub struct ScopeView {
    /// Its id.
    pub slug: String,
    /// Its display name (the id when it has none, or when the scope is not listed).
    pub display_name: String,
    /// Whether its deployments may be dropped.
    pub allow_drop: bool,
}

/// A cluster as pages show it: its driver in words, and whether it is simulated.
pub struct ClusterView {
    /// Its id.
    pub slug: String,
    /// Its display name (the id when it is not listed).
    pub display_name: String,
    /// `kubernetes` or `directory`.
    pub driver: &'static str,
    /// A simulated directory cluster: nothing runs for real.
    pub simulated: bool,
}

impl From<&pb::Scope> for ScopeView {
    fn from(scope: &pb::Scope) -> Self {
        Self {
            slug: scope.slug.clone(),
            display_name: or_id(&scope.display_name, &scope.name),
            allow_drop: scope.allow_drop,
        }
    }
}

impl From<&pb::Cluster> for ClusterView {
    fn from(cluster: &pb::Cluster) -> Self {
        let (driver, simulated) = match &cluster.connection {
            Some(pb::cluster::Connection::Kubernetes(_)) => ("kubernetes", false),
            Some(pb::cluster::Connection::Directory(directory)) => {
                ("directory", directory.simulated)
            }
            None => ("unknown", false),
        };
        Self {
            slug: cluster.slug.clone(),
            display_name: or_id(&cluster.display_name, &cluster.name),
            driver,
            simulated,
        }
    }
}

fn or_id(display_name: &str, name: &str) -> String {
    if display_name.is_empty() {
        view::id_of(name).to_owned()
    } else {
        display_name.to_owned()
    }
}

/// A project's scopes and clusters, to show a deployment's by name.
pub struct Places {
    scopes: Vec<pb::Scope>,
    clusters: Vec<pb::Cluster>,
}

impl Places {
    /// The scopes and clusters of `project` (a resource name).
    pub async fn of(signed_in: &SignedIn, project: &str) -> Result<Self, PageError> {
        let mut scopes_client = signed_in.api().deployments();
        let mut clusters_client = signed_in.api().deployments();
        let (scopes, clusters) = tokio::try_join!(
            scopes_client.list_scopes(pb::ListScopesRequest {
                parent: project.to_owned(),
                page_size: PAGE_SIZE,
                ..Default::default()
            }),
            clusters_client.list_clusters(pb::ListClustersRequest {
                parent: project.to_owned(),
                page_size: PAGE_SIZE,
                ..Default::default()
            }),
        )?;
        Ok(Self {
            scopes: scopes.into_inner().scopes,
            clusters: clusters.into_inner().clusters,
        })
    }

    /// Scope `name`; a scope missing from the list is shown by its id, drop not allowed.
    pub fn scope(&self, name: &str) -> ScopeView {
        self.scopes
            .iter()
            .find(|scope| scope.name == name)
            .map_or_else(
                || ScopeView {
                    slug: view::id_of(name).to_owned(),
                    display_name: view::id_of(name).to_owned(),
                    allow_drop: false,
                },
                ScopeView::from,
            )
    }

    /// Clusters `names`, in their order.
    pub fn clusters(&self, names: &[String]) -> Vec<ClusterView> {
        names
            .iter()
            .map(|name| {
                self.clusters
                    .iter()
                    .find(|cluster| &cluster.name == name)
                    .map_or_else(
                        || ClusterView {
                            slug: view::id_of(name).to_owned(),
                            display_name: view::id_of(name).to_owned(),
                            driver: "unknown",
                            simulated: false,
                        },
                        ClusterView::from,
                    )
            })
            .collect()
    }
}

/// An operation as pages show it.
pub struct OperationView {
    /// The action, as a verb.
    pub action: &'static str,
    /// Its outcome.
    pub status: Badge,
    /// Who asked.
    pub actor: String,
    /// When, in words and as RFC 3339.
    pub time: String,
    /// When, RFC 3339.
    pub datetime: String,
    /// Its outcome in words (failures).
    pub message: String,
}

impl From<&pb::Operation> for OperationView {
    fn from(operation: &pb::Operation) -> Self {
        Self {
            action: view::action(operation.action),
            status: view::operation_status(operation.status),
            actor: operation.actor.clone(),
            time: view::time(operation.create_time.as_ref()),
            datetime: view::datetime(operation.create_time.as_ref()),
            message: operation.message.clone(),
        }
    }
}

/// The console path of a project, group or deployment.
pub fn href(project: &str, group: Option<&str>, deployment: Option<&str>) -> String {
    let mut path = format!("{}/p/{project}", super::PREFIX);
    if let Some(group) = group {
        path.push_str("/dg/");
        path.push_str(group);
        if let Some(deployment) = deployment {
            path.push_str("/d/");
            path.push_str(deployment);
        }
    }
    path
}
