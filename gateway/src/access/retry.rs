//! `RetryJob` needs the role of the job's action: retrying a drop job drops the deployment, so it
//! needs what `DropDeployment` needs (admin), and a deploy or pause job what `DeployDeployment` or
//! `PauseDeployment` needs (deployer).
//!
//! The request names only the job; its action is the runner's to know. So the gateway reads the
//! job (`GetJob`, on the runner the retry goes to) before forwarding the retry, and requires the
//! role of that action's own RPC, taken from the same rule table ([`super::policy::AccessRules`],
//! built from the contract, where `RetryJob` declares `role_of_job_action`). The rule of
//! `RetryJob` itself (deployer) is the floor, checked before anything is read: a viewer learns
//! nothing of the job.
//!
//! Why a check made before the call holds for the call (it cannot be raced or bypassed):
//! - A job's action never changes. The runner copies it from the job's operation when it
//!   creates the job, and a retry runs that operation's action again (deployment-svc retries the
//!   operation the job belongs to), so the action read here is the one the retry performs,
//!   however much happens in between. Job names are never reused.
//! - The retry is asked of deployment-svc for the very job that was checked (its name and
//!   operation as the runner gave them), so the lifecycle retries the job whose action was
//!   judged.
//!
//! Deciding a retry is the lifecycle's (deployment-svc knows the operation, whether it failed and
//! whether it is still the deployment's latest): the gateway asks deployment-svc's internal
//! `RetryOperation` directly, rather than the runner, which would only pass the question on.
//! - Roles stay in the gateway: no service is asked to trust a role carried in a header, which a
//!   caller able to reach a service could forge, and no path around the gateway gains one.
//! - An action the gateway does not know (a newer contract) needs admin: the check fails closed.

use bytes::Bytes;
use eyrie_platform::grpc::TracedChannel;
use eyrie_proto::{
    internal::v1::{RetryOperationRequest, deployment_callbacks_client::DeploymentCallbacksClient},
    v1::{self as pb, job_service_client::JobServiceClient},
};
use futures::StreamExt as _;
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{
    Grants,
    policy::JobActionRoles,
    rules::{DEPLOY_DEPLOYMENT, DROP_DEPLOYMENT, PAUSE_DEPLOYMENT},
    wire,
};
use crate::forward::{Answer, Call};

/// The lifecycle RPC that a repeat of a job of `action` performs again.
fn lifecycle_rpc(action: pb::OperationAction) -> Option<&'static str> {
    match action {
        pb::OperationAction::Deploy => Some(DEPLOY_DEPLOYMENT),
        pb::OperationAction::Pause => Some(PAUSE_DEPLOYMENT),
        pb::OperationAction::Drop => Some(DROP_DEPLOYMENT),
        pb::OperationAction::Unspecified => None,
    }
}

/// Serves a call that passed its rule and repeats a job's action (the rule sets
/// `role_of_job_action`): reads the job, checks the role of its action, then asks
/// deployment-svc (on `deployments`) to retry it.
pub fn answer(call: Call, deployments: TracedChannel) -> Answer {
    Box::pin(async move {
        let job = read_job(&call).await?;
        if !call.grants.is_global_admin() {
            authorize(&call, &job)?;
        }
        let request = pb::RetryJobRequest::decode(call.message.clone())
            .map_err(|_| Status::invalid_argument("the request is not a RetryJobRequest"))?;
        let mut retry = Request::new(RetryOperationRequest {
            job: job.name,
            operation: job.operation,
            resume_from_failed_step: request.resume_from_failed_step,
            actor: call
                .metadata
                .get(eyrie_platform::caller::ACTOR_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            request_id: request.request_id,
        });
        // The caller's identity and trace context go with it.
        *retry.metadata_mut() = call.metadata.clone();
        let started = DeploymentCallbacksClient::new(deployments)
            .max_decoding_message_size(call.max_message_size)
            .retry_operation(retry)
            .await?
            .into_inner();
        let message = Bytes::from(started.encode_to_vec());
        Ok(Response::new(futures::stream::iter([Ok(message)]).boxed()))
    })
}

/// The job the call names, read from the runner with the caller's identity.
async fn read_job(call: &Call) -> Result<pb::Job, Status> {
    let method = call.rule.method.as_str();
    let Some(field) = call.rule.resources.first() else {
        return Err(Status::internal(format!(
            "{method} is served as a repeat of a job's action, but its rule names no job"
        )));
    };
    let name = wire::string_at(&call.message, &field.path)
        .map_err(|err| Status::invalid_argument(err.to_string()))?
        .unwrap_or_default();
    let mut get = Request::new(pb::GetJobRequest {
        name: name.to_owned(),
    });
    // The caller's identity and trace context go with it, as with the retry itself.
    *get.metadata_mut() = call.metadata.clone();
    Ok(JobServiceClient::new(call.channel.clone())
        .max_decoding_message_size(call.max_message_size)
        .get_job(get)
        .await?
        .into_inner())
}

fn authorize(call: &Call, job: &pb::Job) -> Result<(), Status> {
    let method = call.rule.method.as_str();
    let Some(roles) = call.rule.job_action else {
        return Err(Status::internal(format!(
            "{method} is served as a repeat of a job's action, but its rule names no roles"
        )));
    };
    require(&call.grants, method, &roles, &job.name, job.action())
}

/// Whether `grants` may repeat (with `method`) job `name`, of `action`.
fn require(
    grants: &Grants,
    method: &str,
    roles: &JobActionRoles,
    name: &str,
    action: pb::OperationAction,
) -> Result<(), Status> {
    let role = roles.of(action);
    let slug = name
        .strip_prefix("projects/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    if !slug.is_empty() && grants.allows(slug, role) {
        return Ok(());
    }
    let action = match lifecycle_rpc(action) {
        Some(rpc) => rpc.rsplit('/').next().unwrap_or(rpc),
        None => "an unknown action",
    };
    Err(Status::permission_denied(format!(
        "{method} of {name} repeats its {action}, which needs the {} role on projects/{slug}",
        role.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Role, rules};

    const RETRY_JOB: &str = "/eyrie.v1.JobService/RetryJob";

    fn roles() -> JobActionRoles {
        let rules = rules::public().unwrap();
        rules.rule(RETRY_JOB).unwrap().job_action.unwrap()
    }

    #[test]
    fn a_retry_needs_the_role_the_contract_gives_the_action_it_repeats() {
        let roles = roles();
        assert_eq!(roles.of(pb::OperationAction::Deploy), Role::Deployer);
        assert_eq!(roles.of(pb::OperationAction::Pause), Role::Deployer);
        assert_eq!(roles.of(pb::OperationAction::Drop), Role::Admin);
        assert_eq!(roles.of(pb::OperationAction::Unspecified), Role::Admin);
    }

    #[test]
    fn a_deployer_retries_deploys_and_pauses_but_not_drops() {
        let roles = roles();
        let job = "projects/acme/groups/web/deployments/shop/jobs/j1";
        let deployer = Grants::roles([("acme", Role::Deployer)]);
        let check = |grants: &Grants, action| require(grants, RETRY_JOB, &roles, job, action);
        assert!(check(&deployer, pb::OperationAction::Deploy).is_ok());
        assert!(check(&deployer, pb::OperationAction::Pause).is_ok());
        let refused = check(&deployer, pb::OperationAction::Drop).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(
            refused.message().contains("DropDeployment")
                && refused.message().contains("admin role on projects/acme"),
            "{}",
            refused.message()
        );
        let admin = Grants::roles([("acme", Role::Admin)]);
        assert!(check(&admin, pb::OperationAction::Drop).is_ok());
        let elsewhere = Grants::roles([("other", Role::Admin)]);
        assert!(check(&elsewhere, pb::OperationAction::Drop).is_err());
    }
}
