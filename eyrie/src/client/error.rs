//! Why a client command failed, as a message for people and an exit code for scripts.

use std::process::ExitCode;

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Exit codes, stable for scripts (clap itself exits 2 on a usage error).
pub mod exit {
    /// The job (or the operation's last job) failed or was cancelled.
    pub const FAILED: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// The server could not be reached.
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
            Self::Refused(status) if status.code() == Code::Unavailable => exit::UNREACHABLE,
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
        for violation in bad_request.field_violations {
            let line = format!("{}: {}", violation.field, violation.description);
            if !message.contains(&line) {
                text.push_str("\n  ");
                text.push_str(&line);
            }
        }
    }
    text
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
    }
}
