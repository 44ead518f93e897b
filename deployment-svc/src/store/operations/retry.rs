//! A retry goes on from where the deployment is, never back (issue 15, part 5).
//!
//! A retry runs its operation's phases again from the failed one, so it is only right while
//! the deployment is still where that failure left it: the operation must be the deployment's
//! latest, and the job the one it ended with. An older failure (say the initialize job of a
//! first Deploy, since followed by a Deploy that succeeded) would move a deployed deployment
//! back to `initialize` and run its books over it. The check runs in the transaction that starts
//! the retry, with the deployment row locked, so no action can slip in between.

use sea_orm::DatabaseTransaction;

use super::{Retry, get};
use crate::domain::{DeploymentError, resources::Deployment};

/// Why a retry is refused.
const REASON: &str = "RETRY_NOT_LATEST";

/// Refuses `retry` unless its operation is the latest of `deployment` (read in `txn`, locked)
/// and its job the one that operation ended with.
pub(super) async fn refuse_going_back(
    txn: &DatabaseTransaction,
    deployment: &Deployment,
    retry: &Retry,
) -> Result<(), DeploymentError> {
    let job = &retry.job;
    let retried = &retry.operation;
    let latest = deployment.last_operation.as_deref().unwrap_or("none");
    if latest != retried {
        return Err(DeploymentError::FailedPrecondition {
            reason: REASON,
            subject: job.clone(),
            message: format!(
                "{job} cannot be retried: its operation {retried} is no longer the latest of {} ({latest} is), and retrying it would take the deployment back to where that operation left it; retry a job of the latest operation, or start a new action",
                deployment.name
            ),
        });
    }
    let operation = get(txn, retried)
        .await?
        .ok_or_else(|| DeploymentError::not_found("operation", retried.clone()))?;
    match operation.current_job() {
        Some(last) if last == job => Ok(()),
        last => Err(DeploymentError::FailedPrecondition {
            reason: REASON,
            subject: job.clone(),
            message: format!(
                "{job} cannot be retried: operation {retried} ended with {}, not with it; only the job an operation ended with can be retried",
                last.unwrap_or("no job")
            ),
        }),
    }
}
