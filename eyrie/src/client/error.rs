//! Why a client command failed, as a message for people and an exit code for scripts.

use std::process::ExitCode;

use eyrie_platform::peer_status::PeerFailure;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Exit codes, stable for scripts (clap itself exits 2 on a usage error).
pub mod exit {
    /// The job (or the operation's last job) failed or was cancelled.
    pub const FAILED: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// The server, or a service behind it, could not be reached or did not answer in time
    /// (`UNAVAILABLE`, `DEADLINE_EXCEEDED`).
    pub const UNREACHABLE: u8 = 3;
    /// The server refused the call (not found, invalid argument, permission denied, ...).
    pub const REFUSED: u8 = 4;
}

/// A failed client command.
#[derive(Debug)]
pub enum CliError {
    /// Wrong input found before any call, e.g. an unreadable file.
    Usage(String),
    /// The server could not be reached.
    Unreachable(String),
    /// The server answered with an error status.
    Refused(Status),
    /// What the command watched failed: a job, or an operation.
    Failed(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) => exit::USAGE,
            Self::Unreachable(_) => exit::UNREACHABLE,
            Self::Refused(status) if PeerFailure::of(status.code()) == PeerFailure::Unavailable => {
                exit::UNREACHABLE
            }
            Self::Refused(_) => exit::REFUSED,
            Self::Failed(_) => exit::FAILED,
        })
    }

    /// Prints the failure on stderr: the server's own message and code, never a debug dump.
    pub fn report(&self) {
        eprintln!("error: {}", self.message());
    }

    fn message(&self) -> String {
        match self {
            Self::Usage(message) | Self::Unreachable(message) | Self::Failed(message) => {
                message.clone()
            }
            Self::Refused(status) => describe_status(status),
        }
    }
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        Self::Refused(status)
    }
}

/// `message (CODE)`, then each field violation the message does not already spell out.
fn describe_status(status: &Status) -> String {
    let message = if status.message().is_empty() {
        status.code().description()
    } else {
        status.message()
    };
    let mut text = format!("{message} ({})", code_name(status.code()));
    if let Some(bad_request) = status.get_details_bad_request() {
        let deployment = refused_deployment(status);
        for violation in bad_request.field_violations {
            let line = format!("{}: {}", violation.field, violation.description);
            if !message.contains(&line) {
                text.push_str("\n  ");
                text.push_str(&line);
                if let Some(parameter) = violation.field.strip_prefix("deployment.parameters.") {
                    text.push_str(&format!(
                        " — set it with: eyrie deployment update {} --param {parameter}=...",
                        deployment.as_deref().unwrap_or("<name>")
                    ));
                }
            }
        }
    }
    text
}

/// The deployment a refusal for missing parameters names as its subject, if it does.
fn refused_deployment(status: &Status) -> Option<String> {
    status
        .get_details_precondition_failure()?
        .violations
        .into_iter()
        .find(|v| v.r#type == "MISSING_PARAMETER" && v.subject.contains("/deployments/"))
        .map(|v| v.subject)
}

/// The code as gRPC spells it, e.g. `NOT_FOUND`: what users find in the API documentation.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    #[test]
    fn a_refusal_shows_the_message_the_code_and_unlisted_violations() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "book is invalid",
            ErrorDetails::with_bad_request(vec![FieldViolation::new(
                "steps[0].uses",
                "unknown step kind",
            )]),
        );
        let error = CliError::from(status);
        assert_eq!(
            error.message(),
            "book is invalid (INVALID_ARGUMENT)\n  steps[0].uses: unknown step kind"
        );
        assert_eq!(error.exit_code(), ExitCode::from(exit::REFUSED));

        let unavailable = CliError::from(Status::unavailable("book-runner unreachable"));
        assert_eq!(unavailable.exit_code(), ExitCode::from(exit::UNREACHABLE));
        let late = CliError::from(Status::deadline_exceeded("book-runner did not answer"));
        assert_eq!(late.exit_code(), ExitCode::from(exit::UNREACHABLE));
        let limited = CliError::from(Status::resource_exhausted("rate limit"));
        assert_eq!(limited.exit_code(), ExitCode::from(exit::REFUSED));
    }

    #[test]
    fn each_missing_parameter_gets_its_own_line_and_the_command_that_sets_it() {
        let violations = vec![
            FieldViolation::new(
                "deployment.parameters.db_host",
                "required by books/odoo-initialize and books/odoo-deploy (PostgreSQL host)",
            ),
            FieldViolation::new(
                "deployment.parameters.host",
                "required by books/odoo-deploy (Public host name of the Ingress)",
            ),
        ];
        let mut details = ErrorDetails::with_precondition_failure_violation(
            "MISSING_PARAMETER",
            "projects/acme/groups/web/deployments/erp",
            "missing",
        );
        details.set_bad_request(violations.clone());
        let status = Status::with_error_details(
            Code::FailedPrecondition,
            "projects/acme/groups/web/deployments/erp does not set parameters required by its books: db_host, host",
            details,
        );
        assert_eq!(
            CliError::from(status).message(),
            "projects/acme/groups/web/deployments/erp does not set parameters required by its books: db_host, host (FAILED_PRECONDITION)\n\
             \x20 deployment.parameters.db_host: required by books/odoo-initialize and books/odoo-deploy (PostgreSQL host) \
             — set it with: eyrie deployment update projects/acme/groups/web/deployments/erp --param db_host=...\n\
             \x20 deployment.parameters.host: required by books/odoo-deploy (Public host name of the Ingress) \
             — set it with: eyrie deployment update projects/acme/groups/web/deployments/erp --param host=..."
        );

        // Without a deployment to name, the hint stays generic.
        let status = Status::with_error_details(
            Code::FailedPrecondition,
            "parameters missing",
            ErrorDetails::with_bad_request(violations[1..].to_vec()),
        );
        assert!(
            CliError::from(status)
                .message()
                .ends_with("— set it with: eyrie deployment update <name> --param host=...")
        );
    }
}
