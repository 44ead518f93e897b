//! What a phase's job that did not start means for its operation: another try later, or the
//! end of the operation, failed with the reason (issue #15, part 8).

use crate::domain::DeploymentError;

/// Why the job of an operation's phase did not start.
#[derive(Debug)]
pub enum NotStarted {
    /// A later try may succeed (book-runner-svc or the database is down, busy, restarting or
    /// misconfigured): the operation stays running and the reconciler tries again.
    WillRetry(DeploymentError),
    /// No try can succeed (the book is gone, the deployment lacks a parameter the book
    /// requires, ...): the operation ended failed with this reason.
    OperationEnded(String),
}

impl NotStarted {
    /// The error for a caller waiting on the start (RetryJob), about operation `operation`.
    pub fn into_error(self, operation: &str) -> DeploymentError {
        match self {
            Self::WillRetry(err) => err,
            Self::OperationEnded(reason) => DeploymentError::FailedPrecondition {
                reason: "JOB_NOT_STARTED",
                subject: operation.to_owned(),
                message: reason,
            },
        }
    }
}

/// Whether preparing a job (reading the deployment, its group, project and scope) failed for
/// good: something the job needs no longer exists. A storage failure may pass.
pub fn is_transient_preparation(err: &DeploymentError) -> bool {
    !matches!(err, DeploymentError::NotFound { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_resource_ends_the_operation_a_storage_failure_does_not() {
        assert!(!is_transient_preparation(&DeploymentError::not_found(
            "deployment group",
            "projects/acme/groups/web"
        )));
        assert!(is_transient_preparation(&DeploymentError::Unavailable(
            "book-runner-svc".into()
        )));
    }
}
