//! What a phase's job that did not start means for its operation: another try later, or the
//! end of the operation, failed with the reason (issue #15, part 8).

use tonic::Code;

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

/// Whether StartJob refused with `code` for a reason that may be gone on a later try of the
/// same request.
///
/// The codes that judge the request itself (its book, its snapshot, its parameters, the
/// project's rights) give the same answer every time: retrying them only keeps the deployment
/// "in progress" forever, so they end the operation. Every other code is about the runner, the
/// connection to it or how the services are set up, not about this operation, and a later try
/// can succeed once that is fixed: a crash or a database failure (INTERNAL, UNKNOWN, which
/// tonic also gives for a broken connection), overload (RESOURCE_EXHAUSTED), a lost race
/// (ABORTED), an internal credential that does not match during a rotation (UNAUTHENTICATED),
/// or a peer address that points at the wrong service (UNIMPLEMENTED). Failing every running
/// operation for one of those would punish users for an outage an operator fixes.
pub fn is_transient(code: Code) -> bool {
    match code {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::OutOfRange => false,
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Unimplemented
        | Code::Internal
        | Code::Unavailable
        | Code::DataLoss
        | Code::Unauthenticated => true,
    }
}

/// Whether preparing a job (reading the deployment, its group, project and scope) failed for
/// good: something the job needs no longer exists. A storage failure may pass.
pub fn is_transient_preparation(err: &DeploymentError) -> bool {
    !matches!(err, DeploymentError::NotFound { .. })
}

/// The operation's failure message when the `phase` book `book` was refused with `status`.
pub fn refusal_reason(phase: &str, book: &str, status: &tonic::Status) -> String {
    let why = match status.message() {
        "" => status.code().description(),
        message => message,
    };
    format!("the {phase} book {book} could not start: {why}")
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    #[test]
    fn only_refusals_of_the_request_itself_end_the_operation() {
        let table = [
            (Code::InvalidArgument, false),
            (Code::NotFound, false),
            (Code::AlreadyExists, false),
            (Code::PermissionDenied, false),
            (Code::FailedPrecondition, false),
            (Code::OutOfRange, false),
            (Code::Unavailable, true),
            (Code::DeadlineExceeded, true),
            (Code::Cancelled, true),
            (Code::ResourceExhausted, true),
            (Code::Aborted, true),
            (Code::Internal, true),
            (Code::Unknown, true),
            (Code::Unauthenticated, true),
            (Code::Unimplemented, true),
            (Code::DataLoss, true),
        ];
        for (code, transient) in table {
            assert_eq!(is_transient(code), transient, "{code:?}");
        }
    }

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

    #[test]
    fn the_reason_names_the_phase_the_book_and_the_refusal() {
        let status = Status::failed_precondition("book x requires parameter \"release\"");
        assert_eq!(
            refusal_reason("deploy", "projects/acme/books/x", &status),
            "the deploy book projects/acme/books/x could not start: book x requires parameter \"release\""
        );
        let silent = Status::not_found("");
        assert!(
            refusal_reason("deploy", "b", &silent).ends_with(Code::NotFound.description()),
            "an empty message still says why"
        );
    }
}
