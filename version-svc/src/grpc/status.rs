//! version-svc errors as gRPC statuses.

use eyrie_platform::status;
use tonic::Status;

use crate::domain::VersionError;

impl From<VersionError> for Status {
    fn from(err: VersionError) -> Self {
        match &err {
            VersionError::Invalid(violations) => status::invalid_argument(violations),
            VersionError::VersionNotFound(name) => status::not_found("version", name),
            VersionError::Store(store) => status::store(store),
        }
    }
}
