//! `RetryJob` needs the role of the job's action: retrying a drop job drops the deployment, so it
//! needs what `DropDeployment` needs (admin), and a deploy or pause job what `DeployDeployment` or
//! `PauseDeployment` needs (deployer).
//!
//! The request names only the job; its action is the runner's to know. So the gateway reads the
//! job (`GetJob`, on the runner the retry goes to) before forwarding the retry, and requires the
//! role of that action's own RPC, from the same rule table ([`super::policy::RULES`]). The rule
//! of `RetryJob` itself (deployer) is the floor, checked before anything is read: a viewer learns
//! nothing of the job.
//!
//! Why a check made before the call holds for the call (it cannot be raced or bypassed):
//! - A job's action never changes. The runner copies it from the job's operation when it
//!   creates the job, and a retry runs that operation's action again (deployment-svc retries the
//!   operation the job belongs to), so the action read here is the one the retry performs,
//!   however much happens in between. Job names are never reused.
//! - The message forwarded is the very bytes the job name was read from, so the runner retries
//!   the job that was checked; both sides decode it with prost.
//! - Roles stay in the gateway: no service is asked to trust a role carried in a header, which a
//!   caller able to reach a service could forge, and no path around the gateway gains one.
//! - An action the gateway does not know (a newer contract) needs admin: the check fails closed.

use eyrie_proto::v1::{self as pb, job_service_client::JobServiceClient};
use prost::Message as _;
use tonic::{Request, Status};

use super::{
    Grants, Role,
    policy::{self, Need},
};
use crate::forward::{Answer, Call, forward};

/// The gRPC path this module answers.
pub const RETRY_JOB: &str = "/eyrie.v1.JobService/RetryJob";

/// The lifecycle RPC that a retry of a job of `action` repeats.
fn lifecycle_rpc(action: pb::OperationAction) -> Option<&'static str> {
    match action {
        pb::OperationAction::Deploy => Some("/eyrie.v1.DeploymentService/DeployDeployment"),
        pb::OperationAction::Pause => Some("/eyrie.v1.DeploymentService/PauseDeployment"),
        pb::OperationAction::Drop => Some("/eyrie.v1.DeploymentService/DropDeployment"),
        pb::OperationAction::Unspecified => None,
    }
}

/// The role on the job's project needed to retry a job of `action`: that of the action's RPC.
pub fn role_to_retry(action: pb::OperationAction) -> Role {
    let role = lifecycle_rpc(action)
        .and_then(policy::rule)
        .and_then(|rule| match rule.need {
            Need::Project(role) => Some(role),
            Need::AnyCaller | Need::GlobalAdmin => None,
        });
    role.unwrap_or(Role::Admin)
}

/// Serves a RetryJob call that passed the rule of `RetryJob`: checks the role of the job's
/// action, then forwards it.
pub fn answer(call: Call) -> Answer {
    Box::pin(async move {
        if !call.grants.is_global_admin() {
            authorize(&call).await?;
        }
        forward(call).await
    })
}

async fn authorize(call: &Call) -> Result<(), Status> {
    let request = pb::RetryJobRequest::decode(call.message.clone())
        .map_err(|_| Status::invalid_argument("the request is not a RetryJobRequest"))?;
    let mut get = Request::new(pb::GetJobRequest {
        name: request.name.clone(),
    });
    // The caller's identity and trace context go with it, as with the retry itself.
    *get.metadata_mut() = call.metadata.clone();
    let job = JobServiceClient::new(call.channel.clone())
        .max_decoding_message_size(call.max_message_size)
        .get_job(get)
        .await?
        .into_inner();
    require(&call.grants, &job.name, job.action())
}

/// Whether `grants` may retry job `name`, of `action`.
fn require(grants: &Grants, name: &str, action: pb::OperationAction) -> Result<(), Status> {
    let role = role_to_retry(action);
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
        "{RETRY_JOB} of {name} repeats its {action}, which needs the {} role on projects/{slug}",
        role.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_needs_the_role_of_the_action_it_repeats() {
        assert_eq!(role_to_retry(pb::OperationAction::Deploy), Role::Deployer);
        assert_eq!(role_to_retry(pb::OperationAction::Pause), Role::Deployer);
        assert_eq!(role_to_retry(pb::OperationAction::Drop), Role::Admin);
        assert_eq!(role_to_retry(pb::OperationAction::Unspecified), Role::Admin);
    }

    #[test]
    fn a_deployer_retries_deploys_and_pauses_but_not_drops() {
        let job = "projects/acme/groups/web/deployments/shop/jobs/j1";
        let deployer = Grants::roles([("acme", Role::Deployer)]);
        assert!(require(&deployer, job, pb::OperationAction::Deploy).is_ok());
        assert!(require(&deployer, job, pb::OperationAction::Pause).is_ok());
        let refused = require(&deployer, job, pb::OperationAction::Drop).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(
            refused.message().contains("DropDeployment")
                && refused.message().contains("admin role on projects/acme"),
            "{}",
            refused.message()
        );
        let admin = Grants::roles([("acme", Role::Admin)]);
        assert!(require(&admin, job, pb::OperationAction::Drop).is_ok());
        let elsewhere = Grants::roles([("other", Role::Admin)]);
        assert!(require(&elsewhere, job, pb::OperationAction::Drop).is_err());
    }
}
