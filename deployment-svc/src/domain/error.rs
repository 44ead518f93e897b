//! What can go wrong in deployment-svc.

use eyrie_platform::violation::FieldViolation;

/// Errors of deployment-svc's use cases, converted to gRPC statuses once, at the edge.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The request is malformed; each violation names its field (INVALID_ARGUMENT).
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No resource of `kind` (`project`, `deployment`, ...) has that name (NOT_FOUND).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Resource type, e.g. `deployment group`.
        kind: &'static str,
        /// Resource name.
        name: String,
    },
    /// The name is taken (ALREADY_EXISTS).
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// Resource type.
        kind: &'static str,
        /// Resource name.
        name: String,
    },
    /// The etag sent is not the resource's current one (ABORTED).
    #[error(
        "{name} changed since it was read: etag {expected:?} is stale, the current one is {actual:?}"
    )]
    EtagMismatch {
        /// Resource name.
        name: String,
        /// The etag the caller sent.
        expected: String,
        /// The current etag.
        actual: String,
    },
    /// A concurrent change won the race for the same resource (ABORTED); the caller may retry.
    #[error("{0} was changed concurrently; read it again and retry")]
    Conflict(String),
    /// The request is valid but the resource is not in a state to run it (FAILED_PRECONDITION).
    #[error("{message}")]
    FailedPrecondition {
        /// Short machine-readable reason, e.g. `DEPLOYMENT_DROPPED`.
        reason: &'static str,
        /// Resource name of what is in the wrong state.
        subject: String,
        /// What is wrong, for people.
        message: String,
    },
    /// The deployment lacks parameters its books require (FAILED_PRECONDITION), each named by
    /// a violation of `deployment.parameters.<name>`, all at once.
    #[error(
        "{deployment} does not set {} required by its books: {}",
        if .violations.len() == 1 { "a parameter" } else { "parameters" },
        .violations.iter().map(|v| v.field.trim_start_matches("deployment.parameters.")).collect::<Vec<_>>().join(", ")
    )]
    MissingParameters {
        /// Resource name of the deployment.
        deployment: String,
        /// One per missing parameter.
        violations: Vec<FieldViolation>,
    },
    /// A peer service could not be reached (UNAVAILABLE); nothing changed.
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// The database failed (INTERNAL).
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl DeploymentError {
    /// A request with one wrong field.
    pub fn invalid(violation: FieldViolation) -> Self {
        Self::Invalid(vec![violation])
    }

    /// `kind` named `name` does not exist.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// `kind` named `name` exists already.
    pub fn already_exists(kind: &'static str, name: impl Into<String>) -> Self {
        Self::AlreadyExists {
            kind,
            name: name.into(),
        }
    }
}

/// Failures of the storage layer (shared by every service).
pub use eyrie_platform::store_error::StoreError;
