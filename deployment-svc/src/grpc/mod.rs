//! The gRPC adapter of deployment-svc: `eyrie.v1.DeploymentService` and
//! `eyrie.internal.v1.DeploymentCallbacks`. One impl block per trait; each RPC delegates to a
//! thin handler of its module.

pub mod books;
pub mod convert;
mod lifecycle;
mod operation_watch;
pub mod peers;
mod resources;
mod status;
mod watch;

use std::sync::Arc;

use eyrie_proto::{
    internal::v1::deployment_callbacks_server::DeploymentCallbacks,
    v1::{self as pb, deployment_service_server::DeploymentService},
};
use tonic::{Request, Response, Status};

pub use self::resources::actor;
use crate::{
    domain::state::Action,
    service::{lifecycle::Lifecycle, resources::Resources},
};

/// Serves `eyrie.v1.DeploymentService` and `eyrie.internal.v1.DeploymentCallbacks`.
#[derive(Clone)]
pub struct DeploymentGrpc {
    resources: Arc<Resources>,
    lifecycle: Arc<Lifecycle>,
}

impl DeploymentGrpc {
    /// Serves `resources` and `lifecycle`.
    pub fn new(resources: Resources, lifecycle: Arc<Lifecycle>) -> Self {
        Self {
            resources: Arc::new(resources),
            lifecycle,
        }
    }
}

#[tonic::async_trait]
impl DeploymentService for DeploymentGrpc {
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        resources::create_project(&self.resources, request).await
    }

    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        resources::update_project(&self.resources, request).await
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        resources::get_project(&self.resources, request).await
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        resources::list_projects(&self.resources, request).await
    }

    async fn create_scope(
        &self,
        request: Request<pb::CreateScopeRequest>,
    ) -> Result<Response<pb::Scope>, Status> {
        resources::create_scope(&self.resources, request).await
    }

    async fn get_scope(
        &self,
        request: Request<pb::GetScopeRequest>,
    ) -> Result<Response<pb::Scope>, Status> {
        resources::get_scope(&self.resources, request).await
    }

    async fn list_scopes(
        &self,
        request: Request<pb::ListScopesRequest>,
    ) -> Result<Response<pb::ListScopesResponse>, Status> {
        resources::list_scopes(&self.resources, request).await
    }

    async fn create_cluster(
        &self,
        request: Request<pb::CreateClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        resources::create_cluster(&self.resources, request).await
    }

    async fn get_cluster(
        &self,
        request: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        resources::get_cluster(&self.resources, request).await
    }

    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        resources::list_clusters(&self.resources, request).await
    }

    async fn create_deployment_group(
        &self,
        request: Request<pb::CreateDeploymentGroupRequest>,
    ) -> Result<Response<pb::DeploymentGroup>, Status> {
        resources::create_group(&self.resources, request).await
    }

    async fn get_deployment_group(
        &self,
        request: Request<pb::GetDeploymentGroupRequest>,
    ) -> Result<Response<pb::DeploymentGroup>, Status> {
        resources::get_group(&self.resources, request).await
    }

    async fn list_deployment_groups(
        &self,
        request: Request<pb::ListDeploymentGroupsRequest>,
    ) -> Result<Response<pb::ListDeploymentGroupsResponse>, Status> {
        resources::list_groups(&self.resources, request).await
    }

    async fn update_deployment_group(
        &self,
        request: Request<pb::UpdateDeploymentGroupRequest>,
    ) -> Result<Response<pb::DeploymentGroup>, Status> {
        resources::update_group(&self.resources, request).await
    }

    async fn create_deployment(
        &self,
        request: Request<pb::CreateDeploymentRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        resources::create_deployment(&self.resources, request).await
    }

    async fn get_deployment(
        &self,
        request: Request<pb::GetDeploymentRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let mut response = resources::get_deployment(&self.resources, request).await?;
        // The last operation in full (status, message, jobs), not only its name.
        let deployment = response.get_mut();
        if let Some(name) = deployment.last_operation.as_ref().map(|op| op.name.clone())
            && let Ok(operation) = self.lifecycle.operation(&name).await
        {
            deployment.last_operation = Some(crate::grpc::convert::operation_to_proto(&operation));
        }
        Ok(response)
    }

    async fn list_deployments(
        &self,
        request: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        resources::list_deployments(&self.resources, request).await
    }

    async fn update_deployment(
        &self,
        request: Request<pb::UpdateDeploymentRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        resources::update_deployment(&self.resources, request).await
    }

    async fn deploy_deployment(
        &self,
        request: Request<pb::DeployDeploymentRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        lifecycle::deploy(&self.lifecycle, request).await
    }

    async fn pause_deployment(
        &self,
        request: Request<pb::PauseDeploymentRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        lifecycle::act(
            &self.lifecycle,
            &request.name,
            Action::Pause,
            &actor,
            &request.request_id,
        )
        .await
    }

    async fn drop_deployment(
        &self,
        request: Request<pb::DropDeploymentRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        lifecycle::act(
            &self.lifecycle,
            &request.name,
            Action::Drop,
            &actor,
            &request.request_id,
        )
        .await
    }

    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        lifecycle::list(&self.lifecycle, request).await
    }

    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        lifecycle::get(&self.lifecycle, request).await
    }

    async fn watch_operation(
        &self,
        request: Request<pb::WatchOperationRequest>,
    ) -> Result<Response<tonic::codegen::BoxStream<pb::WatchOperationResponse>>, Status> {
        operation_watch::watch(self.lifecycle.clone(), request).await
    }

    async fn watch_deployments(
        &self,
        request: Request<pb::WatchDeploymentsRequest>,
    ) -> Result<Response<tonic::codegen::BoxStream<pb::WatchDeploymentsResponse>>, Status> {
        watch::watch(self.resources.clone(), self.lifecycle.clone(), request).await
    }
}

#[tonic::async_trait]
impl DeploymentCallbacks for DeploymentGrpc {
    async fn report_job_outcome(
        &self,
        request: Request<eyrie_proto::internal::v1::ReportJobOutcomeRequest>,
    ) -> Result<Response<eyrie_proto::internal::v1::ReportJobOutcomeResponse>, Status> {
        lifecycle::report(&self.lifecycle, request).await
    }

    async fn get_deployment_snapshot(
        &self,
        request: Request<eyrie_proto::internal::v1::GetDeploymentSnapshotRequest>,
    ) -> Result<Response<pb::DeploymentSnapshot>, Status> {
        lifecycle::snapshot(&self.lifecycle, request).await
    }

    async fn retry_operation(
        &self,
        request: Request<eyrie_proto::internal::v1::RetryOperationRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        lifecycle::retry(&self.lifecycle, request).await
    }
}
