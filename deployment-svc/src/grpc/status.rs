//! deployment-svc errors as gRPC statuses, converted once, here.

use eyrie_platform::status::{self, FieldViolation};
use tonic::Status;

use crate::domain::DeploymentError;

/// `INVALID_ARGUMENT` for one wrong request field, as every handler refuses a name it cannot
/// parse.
pub(super) fn invalid(violation: FieldViolation) -> Status {
    DeploymentError::invalid(violation).into()
}

impl From<DeploymentError> for Status {
    fn from(err: DeploymentError) -> Self {
        match &err {
            DeploymentError::Invalid(violations) => status::invalid_argument(violations),
            DeploymentError::NotFound { kind, name } => status::not_found(kind, name),
            DeploymentError::AlreadyExists { kind, name } => status::already_exists(kind, name),
            DeploymentError::EtagMismatch { .. } | DeploymentError::Conflict(_) => {
                Status::aborted(err.to_string())
            }
            DeploymentError::FailedPrecondition {
                reason,
                subject,
                message,
            } => status::failed_precondition(reason, subject, message.clone()),
            DeploymentError::MissingParameters {
                deployment,
                violations,
            } => status::failed_precondition_fields(
                "MISSING_PARAMETER",
                deployment,
                err.to_string(),
                violations,
            ),
            DeploymentError::Unavailable(_) => Status::unavailable(err.to_string()),
            DeploymentError::Store(store) => status::store(store),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_error_gets_its_code() {
        let cases = [
            (
                DeploymentError::invalid(FieldViolation::new("deployment.image", "bad")),
                Code::InvalidArgument,
            ),
            (
                DeploymentError::not_found("deployment", "projects/a/groups/g/deployments/d"),
                Code::NotFound,
            ),
            (
                DeploymentError::already_exists("project", "projects/a"),
                Code::AlreadyExists,
            ),
            (
                DeploymentError::EtagMismatch {
                    name: "projects/a/groups/g".into(),
                    expected: "r1".into(),
                    actual: "r2".into(),
                },
                Code::Aborted,
            ),
            (DeploymentError::Conflict("x".into()), Code::Aborted),
            (
                DeploymentError::FailedPrecondition {
                    reason: "DEPLOYMENT_DROPPED",
                    subject: "x".into(),
                    message: "dropped".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                DeploymentError::Unavailable("book-runner-svc".into()),
                Code::Unavailable,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }
}
