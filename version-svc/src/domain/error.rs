//! What can go wrong in version-svc.

use eyrie_platform::violation::FieldViolation;

/// Errors of version-svc's domain, converted to gRPC statuses at the edge.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The request is malformed; each violation names its field.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No version with that name.
    #[error("version {0:?} not found")]
    VersionNotFound(String),
    /// The database failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl VersionError {
    /// A request with one wrong field.
    pub fn invalid(violation: FieldViolation) -> Self {
        Self::Invalid(vec![violation])
    }
}

/// Failures of the storage layer (shared by every service).
pub use eyrie_platform::store_error::StoreError;
