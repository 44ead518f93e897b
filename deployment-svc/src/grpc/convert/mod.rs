//! Protobuf messages to and from deployment-svc's domain. Prost types stop here (and at the
//! outbox, whose records are version-svc's requests).

mod lifecycle;
pub mod requests;

pub use lifecycle::{action_to_proto, operation_to_proto, phase_to_proto, snapshot_to_proto};

use eyrie_platform::status::FieldViolation;
use eyrie_proto::v1 as pb;

use crate::domain::{
    DeploymentError,
    resources::{
        Boundary, Cluster, ClusterConnection, Deployment, DeploymentGroup, DeploymentState,
        DeploymentType, KeyFields, Project, Scope,
    },
};

/// Collects the violations of a request, so that one answer names every wrong field.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Keeps `outcome`'s violation, if any; its value otherwise.
    pub fn check<T>(&mut self, outcome: Result<T, FieldViolation>) -> Option<T> {
        outcome.map_err(|violation| self.0.push(violation)).ok()
    }

    /// Keeps every violation of `violations`.
    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    /// `value` when nothing was wrong, `Invalid` with every violation otherwise.
    pub fn finish<T>(self, value: T) -> Result<T, DeploymentError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(DeploymentError::Invalid(self.0))
        }
    }
}

pub use eyrie_platform::time::to_timestamp as timestamp;

/// The protobuf form of a type.
pub fn type_to_proto(deployment_type: DeploymentType) -> pb::DeploymentType {
    match deployment_type {
        DeploymentType::Odoo => pb::DeploymentType::Odoo,
        DeploymentType::Pgo => pb::DeploymentType::Pgo,
        DeploymentType::Pxc => pb::DeploymentType::Pxc,
        DeploymentType::None => pb::DeploymentType::None,
    }
}

/// The domain form of a type; `None` for UNSPECIFIED.
pub fn type_from_proto(deployment_type: pb::DeploymentType) -> Option<DeploymentType> {
    match deployment_type {
        pb::DeploymentType::Unspecified => None,
        pb::DeploymentType::Odoo => Some(DeploymentType::Odoo),
        pb::DeploymentType::Pgo => Some(DeploymentType::Pgo),
        pb::DeploymentType::Pxc => Some(DeploymentType::Pxc),
        pb::DeploymentType::None => Some(DeploymentType::None),
    }
}

/// The protobuf form of a state.
pub fn state_to_proto(state: DeploymentState) -> pb::DeploymentState {
    match state {
        DeploymentState::Draft => pb::DeploymentState::Draft,
        DeploymentState::Initialize => pb::DeploymentState::Initialize,
        DeploymentState::Deploy => pb::DeploymentState::Deploy,
        DeploymentState::Pause => pb::DeploymentState::Pause,
        DeploymentState::Dropped => pb::DeploymentState::Dropped,
    }
}

/// The domain form of a state; `None` for UNSPECIFIED.
pub fn state_from_proto(state: pb::DeploymentState) -> Option<DeploymentState> {
    match state {
        pb::DeploymentState::Unspecified => None,
        pb::DeploymentState::Draft => Some(DeploymentState::Draft),
        pb::DeploymentState::Initialize => Some(DeploymentState::Initialize),
        pb::DeploymentState::Deploy => Some(DeploymentState::Deploy),
        pb::DeploymentState::Pause => Some(DeploymentState::Pause),
        pb::DeploymentState::Dropped => Some(DeploymentState::Dropped),
    }
}

impl From<pb::KeyFields> for KeyFields {
    fn from(fields: pb::KeyFields) -> Self {
        Self {
            repository: fields.repository,
            branch: fields.branch,
            image: fields.image,
            commit_ref: fields.commit_ref,
            clusters: fields.clusters,
            scope: fields.scope,
            parameters: fields.parameters.into_iter().collect(),
        }
    }
}

impl From<&KeyFields> for pb::KeyFields {
    fn from(fields: &KeyFields) -> Self {
        Self {
            repository: fields.repository.clone(),
            branch: fields.branch.clone(),
            image: fields.image.clone(),
            commit_ref: fields.commit_ref.clone(),
            clusters: fields.clusters.clone(),
            scope: fields.scope.clone(),
            parameters: fields
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

impl From<&Project> for pb::Project {
    fn from(project: &Project) -> Self {
        Self {
            name: project.name.to_string(),
            slug: project.name.project.clone(),
            display_name: project.display_name.clone(),
            create_time: Some(timestamp(project.create_time)),
            boundary: Some((&project.boundary).into()),
            etag: project.etag(),
        }
    }
}

impl From<&Boundary> for pb::ProjectBoundary {
    fn from(boundary: &Boundary) -> Self {
        Self {
            namespaces: boundary.namespaces.clone(),
            cluster_kinds: boundary.cluster_kinds.clone(),
            hosts: boundary.hosts.clone(),
        }
    }
}

impl From<&Scope> for pb::Scope {
    fn from(scope: &Scope) -> Self {
        Self {
            name: scope.name.to_string(),
            slug: scope.name.scope.clone(),
            display_name: scope.display_name.clone(),
            allow_drop: scope.allow_drop,
            create_time: Some(timestamp(scope.create_time)),
        }
    }
}

/// The protobuf form of a cluster's connection.
pub fn connection_to_proto(connection: &ClusterConnection) -> pb::cluster::Connection {
    match connection {
        ClusterConnection::Kubernetes {
            kubeconfig_path,
            context,
            in_cluster,
        } => pb::cluster::Connection::Kubernetes(pb::KubernetesConnection {
            kubeconfig_path: kubeconfig_path.clone(),
            context: context.clone(),
            in_cluster: *in_cluster,
        }),
        ClusterConnection::Directory { path, simulated } => {
            pb::cluster::Connection::Directory(pb::DirectoryConnection {
                path: path.clone(),
                simulated: *simulated,
            })
        }
    }
}

impl From<&Cluster> for pb::Cluster {
    fn from(cluster: &Cluster) -> Self {
        Self {
            name: cluster.name.to_string(),
            slug: cluster.name.cluster.clone(),
            display_name: cluster.display_name.clone(),
            connection: Some(connection_to_proto(&cluster.connection)),
            create_time: Some(timestamp(cluster.create_time)),
        }
    }
}

impl From<&DeploymentGroup> for pb::DeploymentGroup {
    fn from(group: &DeploymentGroup) -> Self {
        Self {
            name: group.name.to_string(),
            slug: group.name.group.clone(),
            display_name: group.display_name.clone(),
            r#type: type_to_proto(group.deployment_type).into(),
            initialize_book: group.books.initialize.clone(),
            deploy_book: group.books.deploy.clone(),
            pause_book: group.books.pause.clone(),
            drop_book: group.books.drop.clone(),
            etag: group.etag(),
            create_time: Some(timestamp(group.create_time)),
            update_time: Some(timestamp(group.update_time)),
        }
    }
}

/// The protobuf form of `deployment`, with its last operation as given (the operations are
/// kept by the lifecycle). Without one, an operation carrying only its name stands in.
pub fn deployment_to_proto(
    deployment: &Deployment,
    last_operation: Option<pb::Operation>,
) -> pb::Deployment {
    let last_operation = last_operation.or_else(|| {
        deployment
            .last_operation
            .as_ref()
            .map(|name| pb::Operation {
                name: name.clone(),
                ..pb::Operation::default()
            })
    });
    let fields = &deployment.key_fields;
    pb::Deployment {
        name: deployment.name.to_string(),
        slug: deployment.name.deployment.clone(),
        display_name: deployment.display_name.clone(),
        scope: fields.scope.clone(),
        clusters: fields.clusters.clone(),
        repository: fields.repository.clone(),
        branch: fields.branch.clone(),
        image: fields.image.clone(),
        commit_ref: fields.commit_ref.clone(),
        parameters: fields
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        state: state_to_proto(deployment.state).into(),
        r#type: type_to_proto(deployment.deployment_type).into(),
        namespace: deployment.namespace.clone(),
        last_operation,
        running_job_count: deployment.running_job_count,
        revision: deployment.revision,
        current_version: deployment.current_version,
        etag: deployment.etag(),
        create_time: Some(timestamp(deployment.create_time)),
        update_time: Some(timestamp(deployment.update_time)),
    }
}
