//! Handlers of the lifecycle RPCs and of the runner's callbacks: thin, over [`Lifecycle`].

use eyrie_platform::{
    names::DeploymentName,
    paging::{decode_for, encode_for, page_size},
    status::FieldViolation,
};
use eyrie_proto::{
    internal::v1::{
        GetDeploymentSnapshotRequest, ReportJobOutcomeRequest, ReportJobOutcomeResponse,
    },
    v1 as pb,
};
use tonic::{Request, Response, Status};

use super::{actor, status::invalid};
use crate::{
    domain::{DeploymentError, state::Action},
    grpc::convert::{operation_to_proto, snapshot_to_proto},
    service::lifecycle::Lifecycle,
};

fn request_id(value: &str) -> Option<&str> {
    Some(value).filter(|id| !id.is_empty())
}

/// Deploy, Pause or Drop.
pub async fn act(
    lifecycle: &Lifecycle,
    name: &str,
    action: Action,
    actor: &str,
    request: &str,
) -> Result<Response<pb::Operation>, Status> {
    let name = DeploymentName::parse("name", name).map_err(invalid)?;
    let operation = lifecycle
        .act(&name, action, actor, request_id(request), None)
        .await?;
    Ok(Response::new(operation_to_proto(&operation)))
}

/// DeployDeployment.
pub async fn deploy(
    lifecycle: &Lifecycle,
    request: Request<pb::DeployDeploymentRequest>,
) -> Result<Response<pb::Operation>, Status> {
    let actor = actor(&request);
    let request = request.into_inner();
    let name = DeploymentName::parse("name", &request.name).map_err(invalid)?;
    if request
        .rollback_to_version
        .is_some_and(|version| version < 1)
    {
        return Err(invalid(FieldViolation::new(
            "rollback_to_version",
            "must be a version number (1 or more)",
        )));
    }
    let operation = lifecycle
        .act(
            &name,
            Action::Deploy,
            &actor,
            request_id(&request.request_id),
            request.rollback_to_version,
        )
        .await?;
    Ok(Response::new(operation_to_proto(&operation)))
}

/// ListOperations.
pub async fn list(
    lifecycle: &Lifecycle,
    request: Request<pb::ListOperationsRequest>,
) -> Result<Response<pb::ListOperationsResponse>, Status> {
    let request = request.into_inner();
    let deployment = DeploymentName::parse("parent", &request.parent).map_err(invalid)?;
    let limit = page_size(request.page_size).map_err(invalid)?;
    // A page token belongs to the operations of one deployment.
    let before: Option<String> =
        decode_for(&request.parent, &request.page_token).map_err(invalid)?;
    let mut operations = lifecycle
        .operations(&deployment, before.as_deref(), limit + 1)
        .await
        .map_err(DeploymentError::from)?;
    let more = operations.len() as u64 > limit;
    operations.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_page_token = match operations.last() {
        Some(last) if more => encode_for(&request.parent, &last.name),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListOperationsResponse {
        operations: operations.iter().map(operation_to_proto).collect(),
        next_page_token,
    }))
}

/// GetOperation.
pub async fn get(
    lifecycle: &Lifecycle,
    request: Request<pb::GetOperationRequest>,
) -> Result<Response<pb::Operation>, Status> {
    let name = operation_name(request.into_inner().name)?;
    Ok(Response::new(operation_to_proto(
        &lifecycle.operation(&name).await?,
    )))
}

/// `name`, if it has the form of an operation's resource name (field `name`).
pub fn operation_name(name: String) -> Result<String, Status> {
    let valid = name
        .rsplit_once("/operations/")
        .is_some_and(|(parent, id)| {
            DeploymentName::parse("name", parent).is_ok() && !id.is_empty()
        });
    if !valid {
        return Err(invalid(FieldViolation::new(
            "name",
            "must be projects/{project}/groups/{group}/deployments/{deployment}/operations/{operation}",
        )));
    }
    Ok(name)
}

/// ReportJobOutcome (from book-runner-svc).
pub async fn report(
    lifecycle: &Lifecycle,
    request: Request<ReportJobOutcomeRequest>,
) -> Result<Response<ReportJobOutcomeResponse>, Status> {
    let outcome = request
        .into_inner()
        .outcome
        .ok_or_else(|| invalid(FieldViolation::new("outcome", "is required")))?;
    lifecycle.job_ended(&outcome).await?;
    Ok(Response::new(ReportJobOutcomeResponse {}))
}

/// RetryOperation (from book-runner-svc's RetryJob).
pub async fn retry(
    lifecycle: &Lifecycle,
    request: Request<eyrie_proto::internal::v1::RetryOperationRequest>,
) -> Result<Response<pb::Job>, Status> {
    let request = request.into_inner();
    let job = lifecycle
        .retry(
            &request.operation,
            &request.job,
            request.resume_from_failed_step,
            &request.actor,
            request_id(&request.request_id),
        )
        .await?;
    Ok(Response::new(job))
}

/// GetDeploymentSnapshot (from book-runner-svc, to render a book for a deployment).
pub async fn snapshot(
    lifecycle: &Lifecycle,
    request: Request<GetDeploymentSnapshotRequest>,
) -> Result<Response<pb::DeploymentSnapshot>, Status> {
    let name =
        DeploymentName::parse("deployment", &request.into_inner().deployment).map_err(invalid)?;
    let context = lifecycle.context(&name.to_string()).await?;
    Ok(Response::new(snapshot_to_proto(&context)))
}
