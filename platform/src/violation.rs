//! A wrong field of a request: what domain code reports, with no transport in sight (the gRPC
//! form, `google.rpc.BadRequest`, is made in `status`).

use std::fmt;

/// One field of a request that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `deployment.image`.
    pub field: String,
    /// What is wrong with it, e.g. `must be a valid OCI image reference`.
    pub description: String,
}

impl FieldViolation {
    /// Describes a wrong `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}
