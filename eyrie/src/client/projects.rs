//! `eyrie project|scope|cluster`: what a project is made of before any deployment.

use clap::{ArgGroup, Args, Subcommand};
use eyrie_proto::v1::{
    Cluster, CreateClusterRequest, CreateProjectRequest, CreateScopeRequest, DirectoryConnection,
    GetClusterRequest, GetProjectRequest, GetScopeRequest, KubernetesConnection,
    ListClustersRequest, ListProjectsRequest, ListScopesRequest, Project, ProjectBoundary, Scope,
    UpdateProjectRequest, cluster::Connection as ClusterConnection,
};

use super::{
    Context, all_pages,
    error::CliError,
    names,
    output::{Details, time},
};

/// Projects: the unit of ownership and access control.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Creates a project (needs a global admin token).
    Create {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        name: String,
        /// Human-readable name; the id when not given.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        boundary: BoundaryArgs,
    },
    /// Sets what a project's books may touch besides each deployment's own namespace (needs a
    /// global admin token). Replaces the whole boundary: name every entry to keep.
    Boundary {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        name: String,
        #[command(flatten)]
        boundary: BoundaryArgs,
    },
    /// Lists the projects you may see.
    List,
    /// Shows a project.
    Get {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        name: String,
    },
}

/// A project's boundary, as flags.
#[derive(Debug, Args)]
pub struct BoundaryArgs {
    /// A further namespace its books may touch, by name or `*` glob (repeatable).
    #[arg(long = "allow-namespace", value_name = "NAMESPACE")]
    namespaces: Vec<String>,
    /// A further cluster-scoped kind its books may touch, as group/Kind (the core group is
    /// empty: /PersistentVolume), `*` globs allowed (repeatable).
    #[arg(long = "allow-cluster-kind", value_name = "GROUP/KIND")]
    cluster_kinds: Vec<String>,
    /// A host its http.check steps may reach although the runner refuses it by default
    /// (loopback, link-local, the runner's own addresses): an address, a CIDR network or a host
    /// name (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    hosts: Vec<String>,
}

impl From<BoundaryArgs> for ProjectBoundary {
    fn from(args: BoundaryArgs) -> Self {
        Self {
            namespaces: args.namespaces,
            cluster_kinds: args.cluster_kinds,
            hosts: args.hosts,
        }
    }
}

/// Scopes: the environment tiers of a project (Production, Dev, ...).
#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Creates a scope.
    Create {
        /// `{project}/{scope}`, or `projects/{project}/scopes/{scope}`.
        #[arg(value_parser = names::scope)]
        name: String,
        /// Human-readable name; the id when not given.
        #[arg(long)]
        display_name: Option<String>,
        /// Allow dropping the deployments of this scope.
        #[arg(long)]
        allow_drop: bool,
    },
    /// Lists the scopes of a project.
    List {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        project: String,
    },
    /// Shows a scope.
    Get {
        /// `{project}/{scope}`, or `projects/{project}/scopes/{scope}`.
        #[arg(value_parser = names::scope)]
        name: String,
    },
}

/// Clusters: where deployments run.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Creates a cluster connection under a project, reached through Kubernetes or kept as a
    /// folder of manifests, and so grants the project its use (needs a global admin token).
    Create(CreateCluster),
    /// Lists the clusters of a project.
    List {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        project: String,
    },
    /// Shows a cluster.
    Get {
        /// `{project}/{cluster}`, or `projects/{project}/clusters/{cluster}`.
        #[arg(value_parser = names::cluster)]
        name: String,
    },
}

/// Options of `eyrie cluster create`: exactly one driver.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("driver").required(true).args(["directory", "kubeconfig", "in_cluster"])))]
pub struct CreateCluster {
    /// `{project}/{cluster}`, or `projects/{project}/clusters/{cluster}`.
    #[arg(value_parser = names::cluster)]
    name: String,
    /// Human-readable name; the id when not given.
    #[arg(long)]
    display_name: Option<String>,
    /// Driver `directory`: a folder of manifest files on the book-runner's host (a relative path
    /// is taken from the current directory).
    #[arg(long, value_name = "PATH")]
    directory: Option<String>,
    /// With `--directory`: the book-runner plays the Kubernetes controllers on the folder
    /// (Deployments roll out, Jobs complete, operators reach ready), so books finish without a
    /// real cluster. Nothing runs for real; listings say "simulated".
    #[arg(long, requires = "directory")]
    simulated: bool,
    /// Driver `kubernetes`: a kubeconfig file on the book-runner's host (a relative path is taken
    /// from the current directory).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<String>,
    /// Context of the kubeconfig (its current context when not given).
    #[arg(long, requires = "kubeconfig")]
    context: Option<String>,
    /// Driver `kubernetes`: the service account of the book-runner's pod.
    #[arg(long)]
    in_cluster: bool,
}

pub async fn project(command: ProjectCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        ProjectCommand::Create {
            name,
            display_name,
            boundary,
        } => {
            let (_, id) = names::split_parent(&name);
            let project = client
                .create_project(CreateProjectRequest {
                    project_id: id.to_owned(),
                    project: Some(Project {
                        display_name: display_name.unwrap_or_else(|| id.to_owned()),
                        boundary: Some(boundary.into()),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&project, project_details);
        }
        ProjectCommand::Boundary { name, boundary } => {
            let project = client
                .update_project(UpdateProjectRequest {
                    project: Some(Project {
                        name,
                        boundary: Some(boundary.into()),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["boundary".to_owned()],
                    }),
                })
                .await?
                .into_inner();
            context.output.one(&project, project_details);
        }
        ProjectCommand::List => {
            let projects = all_pages(|page_token| {
                let mut client = client.clone();
                async move {
                    let page = client
                        .list_projects(ListProjectsRequest {
                            page_size: 0,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.projects, page.next_page_token))
                }
            })
            .await?;
            context
                .output
                .list(&projects, &["NAME", "DISPLAY NAME", "CREATED"], |p| {
                    vec![
                        p.name.clone(),
                        p.display_name.clone(),
                        time(p.create_time.as_ref()),
                    ]
                });
        }
        ProjectCommand::Get { name } => {
            let project = client
                .get_project(GetProjectRequest { name })
                .await?
                .into_inner();
            context.output.one(&project, project_details);
        }
    }
    Ok(())
}

pub async fn scope(command: ScopeCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        ScopeCommand::Create {
            name,
            display_name,
            allow_drop,
        } => {
            let (parent, id) = names::split_parent(&name);
            let scope = client
                .create_scope(CreateScopeRequest {
                    parent: parent.to_owned(),
                    scope_id: id.to_owned(),
                    scope: Some(Scope {
                        display_name: display_name.unwrap_or_else(|| id.to_owned()),
                        allow_drop,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&scope, scope_details);
        }
        ScopeCommand::List { project } => {
            let scopes = all_pages(|page_token| {
                let mut client = client.clone();
                let parent = project.clone();
                async move {
                    let page = client
                        .list_scopes(ListScopesRequest {
                            parent,
                            page_size: 0,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.scopes, page.next_page_token))
                }
            })
            .await?;
            context
                .output
                .list(&scopes, &["NAME", "DISPLAY NAME", "DROP"], |s| {
                    vec![
                        s.name.clone(),
                        s.display_name.clone(),
                        if s.allow_drop { "allowed" } else { "refused" }.to_owned(),
                    ]
                });
        }
        ScopeCommand::Get { name } => {
            let scope = client
                .get_scope(GetScopeRequest { name })
                .await?
                .into_inner();
            context.output.one(&scope, scope_details);
        }
    }
    Ok(())
}

pub async fn cluster(command: ClusterCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        ClusterCommand::Create(create) => {
            let (parent, id) = names::split_parent(&create.name);
            let connection = match (create.directory, create.kubeconfig) {
                (Some(path), _) => ClusterConnection::Directory(DirectoryConnection {
                    path: absolute("--directory", &path)?,
                    simulated: create.simulated,
                }),
                (None, kubeconfig) => ClusterConnection::Kubernetes(KubernetesConnection {
                    kubeconfig_path: kubeconfig
                        .map(|path| absolute("--kubeconfig", &path))
                        .transpose()?
                        .unwrap_or_default(),
                    context: create.context.unwrap_or_default(),
                    in_cluster: create.in_cluster,
                }),
            };
            let cluster = client
                .create_cluster(CreateClusterRequest {
                    parent: parent.to_owned(),
                    cluster_id: id.to_owned(),
                    cluster: Some(Cluster {
                        display_name: create.display_name.unwrap_or_else(|| id.to_owned()),
                        connection: Some(connection),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&cluster, cluster_details);
        }
        ClusterCommand::List { project } => {
            let clusters = all_pages(|page_token| {
                let mut client = client.clone();
                let parent = project.clone();
                async move {
                    let page = client
                        .list_clusters(ListClustersRequest {
                            parent,
                            page_size: 0,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.clusters, page.next_page_token))
                }
            })
            .await?;
            context
                .output
                .list(&clusters, &["NAME", "DISPLAY NAME", "CONNECTION"], |c| {
                    vec![c.name.clone(), c.display_name.clone(), connection(c)]
                });
        }
        ClusterCommand::Get { name } => {
            let cluster = client
                .get_cluster(GetClusterRequest { name })
                .await?
                .into_inner();
            context.output.one(&cluster, cluster_details);
        }
    }
    Ok(())
}

fn project_details(project: &Project) -> Details {
    let boundary = project.boundary.as_ref();
    vec![
        ("name", project.name.clone()),
        ("display name", project.display_name.clone()),
        ("created", time(project.create_time.as_ref())),
        (
            "allowed namespaces",
            listed(boundary.map(|b| b.namespaces.as_slice())),
        ),
        (
            "allowed cluster kinds",
            listed(boundary.map(|b| b.cluster_kinds.as_slice())),
        ),
        (
            "allowed hosts",
            listed(boundary.map(|b| b.hosts.as_slice())),
        ),
    ]
}

/// A list on one line; `none` when empty.
fn listed(items: Option<&[String]>) -> String {
    match items {
        Some(items) if !items.is_empty() => items.join(", "),
        _ => "none".to_owned(),
    }
}

fn scope_details(scope: &Scope) -> Details {
    vec![
        ("name", scope.name.clone()),
        ("display name", scope.display_name.clone()),
        ("allow drop", scope.allow_drop.to_string()),
        ("created", time(scope.create_time.as_ref())),
    ]
}

fn cluster_details(cluster: &Cluster) -> Details {
    vec![
        ("name", cluster.name.clone()),
        ("display name", cluster.display_name.clone()),
        ("connection", connection(cluster)),
        ("created", time(cluster.create_time.as_ref())),
    ]
}

/// `path` made absolute against the current directory, as the server takes only absolute paths;
/// symbolic links are kept as given.
fn absolute(flag: &str, path: &str) -> Result<String, CliError> {
    let resolved = std::path::absolute(path)
        .map_err(|err| CliError::Usage(format!("{flag} {path}: {err}")))?;
    resolved
        .into_os_string()
        .into_string()
        .map_err(|_| CliError::Usage(format!("{flag} {path}: the path is not valid UTF-8")))
}

/// The driver and where it points, e.g. `directory /srv/gitops`.
fn connection(cluster: &Cluster) -> String {
    match &cluster.connection {
        Some(ClusterConnection::Directory(directory)) if directory.simulated => {
            format!("directory {} (simulated)", directory.path)
        }
        Some(ClusterConnection::Directory(directory)) => format!("directory {}", directory.path),
        Some(ClusterConnection::Kubernetes(kubernetes)) if kubernetes.in_cluster => {
            "kubernetes (in cluster)".to_owned()
        }
        Some(ClusterConnection::Kubernetes(kubernetes)) if kubernetes.context.is_empty() => {
            format!("kubernetes {}", kubernetes.kubeconfig_path)
        }
        Some(ClusterConnection::Kubernetes(kubernetes)) => format!(
            "kubernetes {} (context {})",
            kubernetes.kubeconfig_path, kubernetes.context
        ),
        None => String::new(),
    }
}
