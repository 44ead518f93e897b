//! Building `tonic::Status` values that tell a client exactly what was wrong.
//!
//! Each service converts its own error enum at the gRPC edge with these helpers, so that every
//! refusal has the same shape: a precise code, a message naming the field or resource, and
//! machine-readable details (`google.rpc.BadRequest`, `ResourceInfo`, `PreconditionFailure`).

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::store_error::StoreError;

pub use crate::violation::FieldViolation;

/// `INVALID_ARGUMENT` naming every wrong field in the message and in `BadRequest` details.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let message = violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The fields a refusal made by [`invalid_argument`] names, in order (for tests and clients).
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// `NOT_FOUND` for a resource of `kind` (e.g. `deployment`) with resource name `name`.
pub fn not_found(kind: &str, name: &str) -> Status {
    resource_status(
        Code::NotFound,
        kind,
        name,
        format!("{kind} {name:?} not found"),
    )
}

/// `ALREADY_EXISTS` for a resource of `kind` with resource name `name`.
pub fn already_exists(kind: &str, name: &str) -> Status {
    resource_status(
        Code::AlreadyExists,
        kind,
        name,
        format!("{kind} {name:?} already exists"),
    )
}

fn resource_status(code: Code, kind: &str, name: &str, message: String) -> Status {
    let details = ErrorDetails::with_resource_info(kind, name, "", message.clone());
    Status::with_error_details(code, message, details)
}

/// `FAILED_PRECONDITION`: the request is valid but the system is not in a state to run it.
///
/// `subject` names what is in the wrong state (e.g. a scope's resource name), `kind` a short
/// machine-readable reason (e.g. `DROP_NOT_ALLOWED`).
pub fn failed_precondition(kind: &str, subject: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let details =
        ErrorDetails::with_precondition_failure_violation(kind, subject, description.clone());
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// `FAILED_PRECONDITION` whose cause is several fields of a stored resource: one
/// `PreconditionFailure` (`kind`, `subject`) plus a `BadRequest` violation per field, so a client
/// learns every field to fix from one refusal.
pub fn failed_precondition_fields(
    kind: &str,
    subject: &str,
    description: impl Into<String>,
    violations: &[FieldViolation],
) -> Status {
    let description = description.into();
    let mut details =
        ErrorDetails::with_precondition_failure_violation(kind, subject, description.clone());
    details.set_bad_request(
        violations
            .iter()
            .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// `INTERNAL`: logs the full error here and tells the client nothing of our internals.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %DisplayChain(error), "internal error");
    Status::internal("internal error")
}

/// The status of a failed storage operation: `UNAVAILABLE` when the database could not be
/// reached (the client may try again), `INTERNAL` otherwise. Either way the client learns
/// nothing of our internals; the error is logged here.
pub fn store(error: &StoreError) -> Status {
    if error.is_unreachable() {
        tracing::warn!(error = %DisplayChain(error), "database unreachable");
        return Status::unavailable("the database is unreachable; try again");
    }
    internal(error)
}

/// Shows an error with its sources, `outer: inner: root`.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_each_field_in_message_and_details() {
        let status = invalid_argument(&[
            FieldViolation::new("deployment.image", "must be a valid OCI image reference"),
            FieldViolation::new("deployment.branch", "must be a valid git branch name"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains("deployment.image: must be a valid OCI image reference")
        );
        assert!(status.message().contains("deployment.branch"));

        let bad_request = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["deployment.image", "deployment.branch"]);
    }

    #[test]
    fn failed_precondition_fields_carries_the_reason_and_every_field() {
        let status = failed_precondition_fields(
            "MISSING_PARAMETER",
            "projects/acme/groups/web/deployments/shop",
            "2 parameters missing",
            &[
                FieldViolation::new("deployment.parameters.host", "required"),
                FieldViolation::new("deployment.parameters.db_host", "required"),
            ],
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            violated_fields(&status),
            [
                "deployment.parameters.host",
                "deployment.parameters.db_host"
            ]
        );
        let failure = status
            .get_details_precondition_failure()
            .expect("PreconditionFailure details");
        assert_eq!(failure.violations[0].r#type, "MISSING_PARAMETER");
    }

    #[test]
    fn not_found_names_the_resource() {
        let status = not_found("deployment", "projects/acme/groups/web/deployments/shop");
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "deployment \"projects/acme/groups/web/deployments/shop\" not found"
        );
        let info = status
            .get_details_resource_info()
            .expect("ResourceInfo details");
        assert_eq!(info.resource_type, "deployment");
    }

    #[test]
    fn internal_hides_the_cause_from_the_client() {
        let cause = std::io::Error::other("password authentication failed for user eyrie");
        let status = internal(&cause);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
