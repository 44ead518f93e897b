//! Protobuf forms of the lifecycle: operations, their phases, and the deployment snapshot a
//! job's book reads.

use eyrie_proto::v1::{self as pb, deployment_snapshot as snap};

use super::{connection_to_proto, state_to_proto, timestamp, type_to_proto};
use crate::{
    domain::{
        operation::{Operation, OperationStatus, PhaseProgress},
        state::{Action, Phase},
    },
    service::peers::DeploymentContext,
};

/// The protobuf form of an action.
pub fn action_to_proto(action: Action) -> pb::OperationAction {
    match action {
        Action::Deploy => pb::OperationAction::Deploy,
        Action::Pause => pb::OperationAction::Pause,
        Action::Drop => pb::OperationAction::Drop,
    }
}

/// The protobuf form of a phase.
pub fn phase_to_proto(phase: Phase) -> pb::BookPhase {
    match phase {
        Phase::Initialize => pb::BookPhase::Initialize,
        Phase::Deploy => pb::BookPhase::Deploy,
        Phase::Pause => pb::BookPhase::Pause,
        Phase::Drop => pb::BookPhase::Drop,
    }
}

/// The contract's form of an operation.
pub fn operation_to_proto(operation: &Operation) -> pb::Operation {
    pb::Operation {
        name: operation.name.clone(),
        action: action_to_proto(operation.action).into(),
        status: match operation.status {
            OperationStatus::Running => pb::OperationStatus::Running,
            OperationStatus::Succeeded => pb::OperationStatus::Succeeded,
            OperationStatus::Failed => pb::OperationStatus::Failed,
        }
        .into(),
        actor: operation.actor.clone(),
        request_id: operation.request_id.clone().unwrap_or_default(),
        jobs: operation.jobs.clone(),
        message: operation.message.clone(),
        rollback_to_version: operation.rollback_to_version.unwrap_or(0),
        create_time: Some(timestamp(operation.create_time)),
        end_time: operation.end_time.map(timestamp),
        retry_of: operation.retry_of.clone().unwrap_or_default(),
        phases: operation
            .progress()
            .into_iter()
            .map(|(phase, job, progress)| pb::OperationPhase {
                phase: phase_to_proto(phase).into(),
                job: job.unwrap_or_default().to_owned(),
                status: progress_to_proto(progress).into(),
            })
            .collect(),
        unexpected_events: operation.unexpected_events.clone(),
    }
}

fn progress_to_proto(progress: PhaseProgress) -> pb::OperationPhaseStatus {
    match progress {
        PhaseProgress::Pending => pb::OperationPhaseStatus::Pending,
        PhaseProgress::Starting => pb::OperationPhaseStatus::Starting,
        PhaseProgress::Running => pb::OperationPhaseStatus::Running,
        PhaseProgress::Succeeded => pb::OperationPhaseStatus::Succeeded,
        PhaseProgress::Failed => pb::OperationPhaseStatus::Failed,
        PhaseProgress::Skipped => pb::OperationPhaseStatus::Skipped,
    }
}

/// The snapshot of a deployment that book-runner-svc renders a book with.
pub fn snapshot_to_proto(context: &DeploymentContext) -> pb::DeploymentSnapshot {
    let DeploymentContext {
        deployment,
        project,
        group,
        scope,
        clusters,
        project_namespaces,
    } = context;
    pb::DeploymentSnapshot {
        deployment: Some(snap::Deployment {
            name: deployment.name.to_string(),
            slug: deployment.name.deployment.clone(),
            display_name: deployment.display_name.clone(),
            key_fields: Some(pb::KeyFields::from(&deployment.key_fields)),
            state: state_to_proto(deployment.state).into(),
        }),
        project: Some(snap::Project {
            name: project.name.to_string(),
            slug: project.name.project.clone(),
            boundary: Some((&project.boundary).into()),
            display_name: project.display_name.clone(),
        }),
        group: Some(snap::Group {
            name: group.name.to_string(),
            slug: group.name.group.clone(),
            display_name: group.display_name.clone(),
            r#type: type_to_proto(group.deployment_type).into(),
        }),
        scope: Some(snap::Scope {
            name: scope.name.to_string(),
            slug: scope.name.scope.clone(),
            display_name: scope.display_name.clone(),
            allow_drop: scope.allow_drop,
        }),
        clusters: clusters
            .iter()
            .map(|cluster| snap::Cluster {
                name: cluster.name.to_string(),
                slug: cluster.name.cluster.clone(),
                display_name: cluster.display_name.clone(),
                connection: Some(match connection_to_proto(&cluster.connection) {
                    pb::cluster::Connection::Kubernetes(kube) => {
                        snap::cluster::Connection::Kubernetes(kube)
                    }
                    pb::cluster::Connection::Directory(directory) => {
                        snap::cluster::Connection::Directory(directory)
                    }
                }),
            })
            .collect(),
        namespace: deployment.namespace.clone(),
        version: deployment.current_version,
        revision: deployment.revision,
        project_namespaces: project_namespaces.clone(),
    }
}
