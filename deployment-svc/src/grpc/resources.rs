//! Handlers of the resource RPCs: read the request, convert, call [`Resources`], convert back.

use eyrie_platform::names::DeploymentName;
use eyrie_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{
    convert::{Violations, deployment_to_proto, requests},
    status::invalid,
};
use crate::{
    domain::names::{ClusterName, GroupName, ProjectName, ScopeName},
    service::resources::Resources,
};

/// Result of a handler.
type Answer<T> = Result<Response<T>, Status>;

pub use eyrie_platform::caller::actor;

pub(super) async fn create_project(
    resources: &Resources,
    request: Request<pb::CreateProjectRequest>,
) -> Answer<pb::Project> {
    let actor = actor(&request);
    let (new, meta) = requests::create_project(request.into_inner(), actor)?;
    let project = resources.create_project(&new, &meta).await?;
    Ok(Response::new((&project).into()))
}

pub(super) async fn update_project(
    resources: &Resources,
    request: Request<pb::UpdateProjectRequest>,
) -> Answer<pb::Project> {
    let update = requests::update_project(request.into_inner())?;
    Ok(Response::new(
        (&resources.update_project(&update).await?).into(),
    ))
}

pub(super) async fn get_project(
    resources: &Resources,
    request: Request<pb::GetProjectRequest>,
) -> Answer<pb::Project> {
    let name = ProjectName::parse("name", &request.into_inner().name).map_err(invalid)?;
    Ok(Response::new((&resources.get_project(&name).await?).into()))
}

pub(super) async fn list_projects(
    resources: &Resources,
    request: Request<pb::ListProjectsRequest>,
) -> Answer<pb::ListProjectsResponse> {
    let request = request.into_inner();
    let mut v = Violations::default();
    let page = requests::page_request(&mut v, "", "", request.page_size, &request.page_token);
    let listed = resources.list_projects(&v.finish(page)?).await?;
    Ok(Response::new(pb::ListProjectsResponse {
        projects: listed.items.iter().map(Into::into).collect(),
        next_page_token: requests::next_page_token("", "", listed.next_after),
    }))
}

pub(super) async fn create_scope(
    resources: &Resources,
    request: Request<pb::CreateScopeRequest>,
) -> Answer<pb::Scope> {
    let actor = actor(&request);
    let (new, meta) = requests::create_scope(request.into_inner(), actor)?;
    Ok(Response::new(
        (&resources.create_scope(&new, &meta).await?).into(),
    ))
}

pub(super) async fn get_scope(
    resources: &Resources,
    request: Request<pb::GetScopeRequest>,
) -> Answer<pb::Scope> {
    let name = ScopeName::parse("name", &request.into_inner().name).map_err(invalid)?;
    Ok(Response::new((&resources.get_scope(&name).await?).into()))
}

pub(super) async fn list_scopes(
    resources: &Resources,
    request: Request<pb::ListScopesRequest>,
) -> Answer<pb::ListScopesResponse> {
    let request = request.into_inner();
    let (project, page) =
        requests::project_page(&request.parent, request.page_size, &request.page_token)?;
    let listed = resources.list_scopes(&project, &page).await?;
    Ok(Response::new(pb::ListScopesResponse {
        scopes: listed.items.iter().map(Into::into).collect(),
        next_page_token: requests::next_page_token(&request.parent, "", listed.next_after),
    }))
}

pub(super) async fn create_cluster(
    resources: &Resources,
    request: Request<pb::CreateClusterRequest>,
) -> Answer<pb::Cluster> {
    let actor = actor(&request);
    let (new, meta) = requests::create_cluster(request.into_inner(), actor)?;
    Ok(Response::new(
        (&resources.create_cluster(&new, &meta).await?).into(),
    ))
}

pub(super) async fn get_cluster(
    resources: &Resources,
    request: Request<pb::GetClusterRequest>,
) -> Answer<pb::Cluster> {
    let name = ClusterName::parse("name", &request.into_inner().name).map_err(invalid)?;
    Ok(Response::new((&resources.get_cluster(&name).await?).into()))
}

pub(super) async fn list_clusters(
    resources: &Resources,
    request: Request<pb::ListClustersRequest>,
) -> Answer<pb::ListClustersResponse> {
    let request = request.into_inner();
    let (project, page) =
        requests::project_page(&request.parent, request.page_size, &request.page_token)?;
    let listed = resources.list_clusters(&project, &page).await?;
    Ok(Response::new(pb::ListClustersResponse {
        clusters: listed.items.iter().map(Into::into).collect(),
        next_page_token: requests::next_page_token(&request.parent, "", listed.next_after),
    }))
}

pub(super) async fn create_group(
    resources: &Resources,
    request: Request<pb::CreateDeploymentGroupRequest>,
) -> Answer<pb::DeploymentGroup> {
    let actor = actor(&request);
    let (new, meta) = requests::create_group(request.into_inner(), actor)?;
    Ok(Response::new(
        (&resources.create_group(&new, &meta).await?).into(),
    ))
}

pub(super) async fn get_group(
    resources: &Resources,
    request: Request<pb::GetDeploymentGroupRequest>,
) -> Answer<pb::DeploymentGroup> {
    let name = GroupName::parse("name", &request.into_inner().name).map_err(invalid)?;
    Ok(Response::new((&resources.get_group(&name).await?).into()))
}

pub(super) async fn list_groups(
    resources: &Resources,
    request: Request<pb::ListDeploymentGroupsRequest>,
) -> Answer<pb::ListDeploymentGroupsResponse> {
    let request = request.into_inner();
    let (project, page) =
        requests::project_page(&request.parent, request.page_size, &request.page_token)?;
    let listed = resources.list_groups(&project, &page).await?;
    Ok(Response::new(pb::ListDeploymentGroupsResponse {
        deployment_groups: listed.items.iter().map(Into::into).collect(),
        next_page_token: requests::next_page_token(&request.parent, "", listed.next_after),
    }))
}

pub(super) async fn update_group(
    resources: &Resources,
    request: Request<pb::UpdateDeploymentGroupRequest>,
) -> Answer<pb::DeploymentGroup> {
    let actor = actor(&request);
    let (update, meta) = requests::update_group(request.into_inner(), actor)?;
    Ok(Response::new(
        (&resources.update_group(&update, &meta).await?).into(),
    ))
}

pub(super) async fn create_deployment(
    resources: &Resources,
    request: Request<pb::CreateDeploymentRequest>,
) -> Answer<pb::Deployment> {
    let actor = actor(&request);
    let (new, meta) = requests::create_deployment(request.into_inner(), actor)?;
    let deployment = resources.create_deployment(&new, &meta).await?;
    Ok(Response::new(deployment_to_proto(&deployment, None)))
}

pub(super) async fn get_deployment(
    resources: &Resources,
    request: Request<pb::GetDeploymentRequest>,
) -> Answer<pb::Deployment> {
    let name = DeploymentName::parse("name", &request.into_inner().name).map_err(invalid)?;
    let deployment = resources.get_deployment(&name).await?;
    Ok(Response::new(deployment_to_proto(&deployment, None)))
}

pub(super) async fn list_deployments(
    resources: &Resources,
    request: Request<pb::ListDeploymentsRequest>,
) -> Answer<pb::ListDeploymentsResponse> {
    let request = request.into_inner();
    let (query, filter) = requests::list_deployments(&request)?;
    let listed = resources.list_deployments(&query).await?;
    Ok(Response::new(pb::ListDeploymentsResponse {
        deployments: listed
            .items
            .iter()
            .map(|deployment| deployment_to_proto(deployment, None))
            .collect(),
        next_page_token: requests::next_page_token(&request.parent, &filter, listed.next_after),
    }))
}

pub(super) async fn update_deployment(
    resources: &Resources,
    request: Request<pb::UpdateDeploymentRequest>,
) -> Answer<pb::Deployment> {
    let actor = actor(&request);
    let (update, meta) = requests::update_deployment(request.into_inner(), actor)?;
    let deployment = resources.update_deployment(&update, &meta).await?;
    Ok(Response::new(deployment_to_proto(&deployment, None)))
}
