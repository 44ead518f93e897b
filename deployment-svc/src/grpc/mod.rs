//! The gRPC adapter of deployment-svc: `eyrie.v1.DeploymentService` and
//! `eyrie.internal.v1.DeploymentCallbacks`. One impl block per trait; each RPC delegates to a
//! thin handler of its module.

pub mod books;
pub mod convert;
mod resources;
mod status;

use std::sync::Arc;

use eyrie_proto::{
    internal::v1::deployment_callbacks_server::DeploymentCallbacks,
    v1::{self as pb, deployment_service_server::DeploymentService},
};
use tonic::{Request, Response, Status};

pub use self::resources::actor;
use crate::service::resources::Resources;

/// Serves `eyrie.v1.DeploymentService` and `eyrie.internal.v1.DeploymentCallbacks`. The
/// lifecycle RPCs (Deploy, Pause, Drop, operations, WatchDeployments) and the callbacks still
/// answer `UNIMPLEMENTED` (#6).
#[derive(Debug, Clone)]
pub struct DeploymentGrpc {
    resources: Arc<Resources>,
}

impl DeploymentGrpc {
    /// Serves `resources`.
    pub fn new(resources: Resources) -> Self {
        Self {
            resources: Arc::new(resources),
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
        resources::get_deployment(&self.resources, request).await
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
}

#[tonic::async_trait]
impl DeploymentCallbacks for DeploymentGrpc {}
