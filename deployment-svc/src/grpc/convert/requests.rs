//! Requests to domain values: every field checked, every wrong one named.

use eyrie_platform::{
    names::DeploymentName,
    paging::{decode_for, encode_for, page_size},
    status::FieldViolation,
};
use eyrie_proto::v1 as pb;

use super::{Violations, state_from_proto, type_from_proto};
use crate::domain::{
    DeploymentError,
    names::{ClusterName, GroupName, ProjectName, ScopeName},
    resources::{
        BOOK_PHASES, Boundary, ClusterConnection, DeploymentField, DeploymentQuery, DeploymentType,
        DeploymentUpdate, GroupBooks, GroupField, GroupUpdate, KeyFields, NewCluster,
        NewDeployment, NewGroup, NewProject, NewScope, PageRequest, ProjectField, ProjectUpdate,
        RequestMeta, book_field,
    },
    validation::{
        validate_absolute_path, validate_book_reference, validate_display_name,
        validate_request_id, validate_slug,
    },
};

fn required<T>(field: &str, value: Option<T>) -> Result<T, FieldViolation> {
    value.ok_or_else(|| FieldViolation::new(field, "is required"))
}

fn meta(v: &mut Violations, actor: String, request_id: String) -> RequestMeta {
    v.check(validate_request_id("request_id", &request_id));
    RequestMeta {
        actor,
        request_id: Some(request_id).filter(|id| !id.is_empty()),
    }
}

/// CreateProject.
pub fn create_project(
    request: pb::CreateProjectRequest,
    actor: String,
) -> Result<(NewProject, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    v.check(validate_slug("project_id", &request.project_id));
    let meta = meta(&mut v, actor, request.request_id);
    let project = v
        .check(required("project", request.project))
        .unwrap_or_default();
    v.check(validate_display_name(
        "project.display_name",
        &project.display_name,
    ));
    let boundary = boundary_from_proto(project.boundary);
    v.extend(boundary.violations("project.boundary"));
    let new = NewProject {
        name: ProjectName::new(request.project_id),
        display_name: project.display_name,
        boundary,
    };
    v.finish((new, meta))
}

/// UpdateProject.
pub fn update_project(request: pb::UpdateProjectRequest) -> Result<ProjectUpdate, DeploymentError> {
    let mut v = Violations::default();
    let project = v
        .check(required("project", request.project))
        .unwrap_or_default();
    let name = v
        .check(ProjectName::parse("project.name", &project.name))
        .unwrap_or_default();
    let fields = mask(&mut v, request.update_mask, ProjectField::parse);
    if fields.contains(&ProjectField::DisplayName) {
        v.check(validate_display_name(
            "project.display_name",
            &project.display_name,
        ));
    }
    let boundary = boundary_from_proto(project.boundary);
    if fields.contains(&ProjectField::Boundary) {
        v.extend(boundary.violations("project.boundary"));
    }
    v.finish(ProjectUpdate {
        name,
        etag: Some(project.etag).filter(|etag| !etag.is_empty()),
        fields,
        display_name: project.display_name,
        boundary,
    })
}

fn boundary_from_proto(boundary: Option<pb::ProjectBoundary>) -> Boundary {
    let boundary = boundary.unwrap_or_default();
    Boundary {
        namespaces: boundary.namespaces,
        cluster_kinds: boundary.cluster_kinds,
        hosts: boundary.hosts,
    }
}

/// CreateScope.
pub fn create_scope(
    request: pb::CreateScopeRequest,
    actor: String,
) -> Result<(NewScope, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let project = v
        .check(ProjectName::parse("parent", &request.parent))
        .unwrap_or_default();
    v.check(validate_slug("scope_id", &request.scope_id));
    let meta = meta(&mut v, actor, request.request_id);
    let scope = v
        .check(required("scope", request.scope))
        .unwrap_or_default();
    v.check(validate_display_name(
        "scope.display_name",
        &scope.display_name,
    ));
    let new = NewScope {
        name: ScopeName {
            project: project.project,
            scope: request.scope_id,
        },
        display_name: scope.display_name,
        allow_drop: scope.allow_drop,
    };
    v.finish((new, meta))
}

/// CreateCluster.
pub fn create_cluster(
    request: pb::CreateClusterRequest,
    actor: String,
) -> Result<(NewCluster, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let project = v
        .check(ProjectName::parse("parent", &request.parent))
        .unwrap_or_default();
    v.check(validate_slug("cluster_id", &request.cluster_id));
    let meta = meta(&mut v, actor, request.request_id);
    let cluster = v
        .check(required("cluster", request.cluster))
        .unwrap_or_default();
    v.check(validate_display_name(
        "cluster.display_name",
        &cluster.display_name,
    ));
    let connection = connection(&mut v, cluster.connection);
    let new = NewCluster {
        name: ClusterName {
            project: project.project,
            cluster: request.cluster_id,
        },
        display_name: cluster.display_name,
        connection,
    };
    v.finish((new, meta))
}

fn connection(
    v: &mut Violations,
    connection: Option<pb::cluster::Connection>,
) -> ClusterConnection {
    match connection {
        Some(pb::cluster::Connection::Kubernetes(kube)) => {
            if !kube.in_cluster {
                v.check(validate_absolute_path(
                    "cluster.kubernetes.kubeconfig_path",
                    &kube.kubeconfig_path,
                ));
            }
            if kube.context.len() > 253 || kube.context.chars().any(char::is_control) {
                v.check::<()>(Err(FieldViolation::new(
                    "cluster.kubernetes.context",
                    "must be at most 253 characters without control characters",
                )));
            }
            ClusterConnection::Kubernetes {
                kubeconfig_path: kube.kubeconfig_path,
                context: kube.context,
                in_cluster: kube.in_cluster,
            }
        }
        Some(pb::cluster::Connection::Directory(directory)) => {
            v.check(validate_absolute_path(
                "cluster.directory.path",
                &directory.path,
            ));
            ClusterConnection::Directory {
                path: directory.path,
                simulated: directory.simulated,
            }
        }
        None => {
            v.check::<()>(Err(FieldViolation::new(
                "cluster.connection",
                "is required: set kubernetes (a kubeconfig or in_cluster) or directory",
            )));
            ClusterConnection::Directory {
                path: String::new(),
                simulated: false,
            }
        }
    }
}

fn books(
    v: &mut Violations,
    group: &pb::DeploymentGroup,
    project: &str,
    only: &[GroupField],
) -> GroupBooks {
    let books = GroupBooks {
        initialize: group.initialize_book.clone(),
        deploy: group.deploy_book.clone(),
        pause: group.pause_book.clone(),
        drop: group.drop_book.clone(),
    };
    for field in only {
        if let GroupField::Book(phase) = field {
            let book = books.get(*phase);
            if !book.is_empty() {
                let path = format!("deployment_group.{}", book_field(*phase));
                v.check(validate_book_reference(&path, book, project));
            }
        }
    }
    books
}

fn all_book_fields() -> Vec<GroupField> {
    BOOK_PHASES.into_iter().map(GroupField::Book).collect()
}

/// CreateDeploymentGroup; empty book references become the built-in books of the type.
pub fn create_group(
    request: pb::CreateDeploymentGroupRequest,
    actor: String,
) -> Result<(NewGroup, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let project = v
        .check(ProjectName::parse("parent", &request.parent))
        .unwrap_or_default();
    v.check(validate_slug(
        "deployment_group_id",
        &request.deployment_group_id,
    ));
    let meta = meta(&mut v, actor, request.request_id);
    let group = v
        .check(required("deployment_group", request.deployment_group))
        .unwrap_or_default();
    v.check(validate_display_name(
        "deployment_group.display_name",
        &group.display_name,
    ));
    let deployment_type = v
        .check(deployment_type(group.r#type))
        .unwrap_or(DeploymentType::None);
    let books = books(&mut v, &group, &project.project, &all_book_fields());
    let new = NewGroup {
        name: GroupName {
            project: project.project,
            group: request.deployment_group_id,
        },
        display_name: group.display_name,
        deployment_type,
        books: books.or_builtin(deployment_type),
    };
    v.finish((new, meta))
}

fn deployment_type(value: i32) -> Result<DeploymentType, FieldViolation> {
    pb::DeploymentType::try_from(value)
        .ok()
        .and_then(type_from_proto)
        .ok_or_else(|| {
            FieldViolation::new(
                "deployment_group.type",
                "is required: ODOO, PGO, PXC or NONE",
            )
        })
}

/// The paths of a required field mask, each read by `parse`, duplicates dropped.
fn mask<F: PartialEq>(
    v: &mut Violations,
    mask: Option<prost_types::FieldMask>,
    parse: impl Fn(&str) -> Result<F, FieldViolation>,
) -> Vec<F> {
    let paths = mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        v.check::<()>(Err(FieldViolation::new(
            "update_mask",
            "is required: name the fields to change",
        )));
    }
    let mut fields = Vec::new();
    for path in paths {
        if let Some(field) = v.check(parse(&path))
            && !fields.contains(&field)
        {
            fields.push(field);
        }
    }
    fields
}

/// UpdateDeploymentGroup.
pub fn update_group(
    request: pb::UpdateDeploymentGroupRequest,
    actor: String,
) -> Result<(GroupUpdate, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let meta = meta(&mut v, actor, request.request_id);
    let group = v
        .check(required("deployment_group", request.deployment_group))
        .unwrap_or_default();
    let name = v
        .check(GroupName::parse("deployment_group.name", &group.name))
        .unwrap_or_default();
    let fields = mask(&mut v, request.update_mask, GroupField::parse);
    if fields.contains(&GroupField::DisplayName) {
        v.check(validate_display_name(
            "deployment_group.display_name",
            &group.display_name,
        ));
    }
    let books = books(&mut v, &group, &name.project, &fields);
    let update = GroupUpdate {
        name,
        etag: Some(group.etag).filter(|etag| !etag.is_empty()),
        fields,
        display_name: group.display_name,
        books,
    };
    v.finish((update, meta))
}

fn key_fields(deployment: &pb::Deployment) -> KeyFields {
    KeyFields {
        repository: deployment.repository.clone(),
        branch: deployment.branch.clone(),
        image: deployment.image.clone(),
        commit_ref: deployment.commit_ref.clone(),
        clusters: deployment.clusters.clone(),
        scope: deployment.scope.clone(),
        parameters: deployment
            .parameters
            .iter()
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect(),
    }
}

/// CreateDeployment.
pub fn create_deployment(
    request: pb::CreateDeploymentRequest,
    actor: String,
) -> Result<(NewDeployment, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let group = v
        .check(GroupName::parse("parent", &request.parent))
        .unwrap_or_default();
    v.check(validate_slug("deployment_id", &request.deployment_id));
    let meta = meta(&mut v, actor, request.request_id);
    let deployment = v
        .check(required("deployment", request.deployment))
        .unwrap_or_default();
    let new = NewDeployment {
        name: DeploymentName {
            project: group.project,
            group: group.group,
            deployment: request.deployment_id,
        },
        display_name: deployment.display_name.clone(),
        key_fields: key_fields(&deployment),
    };
    v.extend(new.violations());
    v.finish((new, meta))
}

/// UpdateDeployment.
pub fn update_deployment(
    request: pb::UpdateDeploymentRequest,
    actor: String,
) -> Result<(DeploymentUpdate, RequestMeta), DeploymentError> {
    let mut v = Violations::default();
    let meta = meta(&mut v, actor, request.request_id);
    let deployment = v
        .check(required("deployment", request.deployment))
        .unwrap_or_default();
    let name = v.check(DeploymentName::parse("deployment.name", &deployment.name));
    let fields = mask(&mut v, request.update_mask, DeploymentField::parse);
    let update = DeploymentUpdate {
        name: name.unwrap_or_else(|| DeploymentName {
            project: String::new(),
            group: String::new(),
            deployment: String::new(),
        }),
        etag: Some(deployment.etag.clone()).filter(|etag| !etag.is_empty()),
        fields,
        display_name: deployment.display_name.clone(),
        key_fields: key_fields(&deployment),
    };
    v.extend(update.violations());
    v.finish((update, meta))
}

/// The page a List request asks for, under `parent` with `filter` (a canonical description):
/// its token is bound to both, so a token of another list is refused.
pub fn page_request(
    v: &mut Violations,
    parent: &str,
    filter: &str,
    size: i32,
    token: &str,
) -> PageRequest {
    let limit = v.check(page_size(size)).unwrap_or_default();
    let after = v
        .check(decode_for(&format!("{parent}?{filter}"), token))
        .flatten();
    PageRequest { after, limit }
}

/// The token of the page after `next_after`, empty on the last page.
pub fn next_page_token(parent: &str, filter: &str, next_after: Option<String>) -> String {
    next_after
        .map(|after| encode_for(&format!("{parent}?{filter}"), after))
        .unwrap_or_default()
}

/// A page of a project's children (scopes, clusters, groups).
pub fn project_page(
    parent: &str,
    size: i32,
    token: &str,
) -> Result<(ProjectName, PageRequest), DeploymentError> {
    let mut v = Violations::default();
    let project = v
        .check(ProjectName::parse("parent", parent))
        .unwrap_or_default();
    let page = page_request(&mut v, parent, "", size, token);
    v.finish((project, page))
}

/// ListDeployments, with the canonical description of its filters (for page tokens).
pub fn list_deployments(
    request: &pb::ListDeploymentsRequest,
) -> Result<(DeploymentQuery, String), DeploymentError> {
    let mut v = Violations::default();
    let group = v
        .check(GroupName::parse("parent", &request.parent))
        .unwrap_or_default();
    let state = match pb::DeploymentState::try_from(request.state) {
        Ok(state) => state_from_proto(state),
        Err(_) => {
            v.check::<()>(Err(FieldViolation::new(
                "state",
                "is not a deployment state",
            )));
            None
        }
    };
    let scope = Some(request.scope.clone()).filter(|scope| !scope.is_empty());
    if let Some(scope) = &scope
        && let Some(name) = v.check(ScopeName::parse("scope", scope))
        && name.project != group.project
        && !group.project.is_empty()
    {
        v.check::<()>(Err(FieldViolation::new(
            "scope",
            format!("must be a scope of project {}", group.parent()),
        )));
    }
    let filter = format!(
        "state={};scope={};show_dropped={}",
        state.map(|s| s.as_str()).unwrap_or_default(),
        scope.as_deref().unwrap_or_default(),
        request.show_dropped
    );
    let page = page_request(
        &mut v,
        &request.parent,
        &filter,
        request.page_size,
        &request.page_token,
    );
    let query = DeploymentQuery {
        group,
        state,
        scope,
        show_dropped: request.show_dropped,
        page,
    };
    v.finish((query, filter))
}
