//! Book errors as gRPC statuses.

use eyrie_platform::{
    peer_status::PeerFailure,
    status::{self, FieldViolation},
};
use tonic::Status;

use crate::domain::{
    books::{BookError, violation_path},
    render::RenderError,
    validate::BookViolation,
};

impl From<BookError> for Status {
    fn from(err: BookError) -> Self {
        match &err {
            BookError::Invalid(violations) => status::invalid_argument(violations),
            BookError::InvalidBook(violations) => status::invalid_argument(
                &violations
                    .iter()
                    .map(book_field_violation)
                    .collect::<Vec<_>>(),
            ),
            BookError::NotFound(name) => status::not_found("book", name),
            BookError::AlreadyExists(name) => status::already_exists("book", name),
            BookError::BuiltinReadOnly(name) => {
                status::failed_precondition("BUILTIN_BOOK", name, err.to_string())
            }
            BookError::EtagMismatch { .. } => Status::aborted(err.to_string()),
            BookError::Render(render) => render_status(render),
            BookError::Upstream { failure, message } => upstream_status(*failure, message),
            BookError::DeploymentsNotConfigured => status::failed_precondition(
                "DEPLOYMENT_SVC_NOT_CONFIGURED",
                "deployment-svc",
                err.to_string(),
            ),
            BookError::Store(store) => status::store(store),
        }
    }
}

/// deployment-svc's failure to give the deployment, passed on: the caller named the deployment,
/// so a name that is unknown or malformed is the caller's to fix; an outage or overload is
/// worth a later try; anything else (a refusal of this service's own call, a fault on either
/// side) is none of the caller's doing.
fn upstream_status(failure: PeerFailure, message: &str) -> Status {
    let message = format!("deployment-svc: {message}");
    match failure {
        PeerFailure::NotFound => Status::not_found(message),
        PeerFailure::Invalid => Status::invalid_argument(message),
        PeerFailure::Unavailable | PeerFailure::Exhausted => Status::unavailable(message),
        PeerFailure::Refused
        | PeerFailure::Denied
        | PeerFailure::Unauthenticated
        | PeerFailure::Aborted
        | PeerFailure::Broken
        | PeerFailure::Fault => Status::internal(message),
    }
}

/// A problem of the book sent in request field `book` (or as `source`, read as that book).
fn book_field_violation(violation: &BookViolation) -> FieldViolation {
    let description = if violation.step_name.is_empty() {
        violation.description.clone()
    } else {
        format!("step {:?}: {}", violation.step_name, violation.description)
    };
    FieldViolation::new(format!("book.{}", violation_path(violation)), description)
}

fn render_status(err: &RenderError) -> Status {
    match err {
        RenderError::MissingParameter(parameter) => status::failed_precondition(
            "MISSING_PARAMETER",
            &format!("deployment.parameters.{parameter}"),
            err.to_string(),
        ),
        RenderError::Template {
            step_index, field, ..
        } => status::failed_precondition(
            "TEMPLATE_FAILED",
            &format!("steps[{step_index}].with.{field}"),
            err.to_string(),
        ),
        RenderError::Condition { step_index, .. } => status::failed_precondition(
            "TEMPLATE_FAILED",
            &format!("steps[{step_index}].if"),
            err.to_string(),
        ),
        RenderError::NoCluster => {
            status::failed_precondition("NO_CLUSTER", "deployment", err.to_string())
        }
        RenderError::TimedOut(_) => Status::resource_exhausted(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn book_violations_name_step_and_field() {
        let status = Status::from(BookError::InvalidBook(vec![BookViolation {
            step_index: Some(2),
            step_name: "Apply".into(),
            field: "with.manifest".into(),
            description: "template does not parse".into(),
        }]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "book.steps[2].with.manifest");
        assert!(
            status.message().contains("\"Apply\""),
            "{}",
            status.message()
        );
    }

    #[test]
    fn deployment_svc_failures_pass_on_as_the_callers_to_fix_a_later_try_or_internal() {
        let passed_on = |code| {
            Status::from(BookError::Upstream {
                failure: PeerFailure::of(code),
                message: "m".into(),
            })
            .code()
        };
        for code in [Code::NotFound, Code::InvalidArgument, Code::Unavailable] {
            assert_eq!(passed_on(code), code);
        }
        assert_eq!(passed_on(Code::OutOfRange), Code::InvalidArgument);
        for code in [Code::DeadlineExceeded, Code::ResourceExhausted] {
            assert_eq!(passed_on(code), Code::Unavailable, "{code:?}");
        }
        for code in [
            Code::FailedPrecondition,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Aborted,
            Code::Internal,
            Code::Unknown,
            Code::Cancelled,
            Code::Unimplemented,
            Code::DataLoss,
        ] {
            assert_eq!(passed_on(code), Code::Internal, "{code:?}");
        }
    }

    #[test]
    fn refusals_use_their_codes() {
        let cases = [
            (BookError::NotFound("books/x".into()), Code::NotFound),
            (
                BookError::AlreadyExists("books/x".into()),
                Code::AlreadyExists,
            ),
            (
                BookError::BuiltinReadOnly("books/x".into()),
                Code::FailedPrecondition,
            ),
            (
                BookError::EtagMismatch {
                    name: "books/x".into(),
                    expected: "r1".into(),
                    actual: "r2".into(),
                },
                Code::Aborted,
            ),
            (
                BookError::Render(RenderError::MissingParameter("host".into())),
                Code::FailedPrecondition,
            ),
            (
                BookError::DeploymentsNotConfigured,
                Code::FailedPrecondition,
            ),
            (
                BookError::Upstream {
                    failure: PeerFailure::NotFound,
                    message: "deployment".into(),
                },
                Code::NotFound,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }
}
