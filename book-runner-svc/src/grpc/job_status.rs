//! Job errors as gRPC statuses.

use eyrie_platform::status;
use tonic::Status;

use crate::service::jobs::JobError;

impl From<JobError> for Status {
    fn from(err: JobError) -> Self {
        match &err {
            JobError::Invalid(violations) => status::invalid_argument(violations),
            JobError::NotFound { kind, name } => status::not_found(kind, name),
            JobError::FailedPrecondition {
                reason,
                subject,
                message,
            } => status::failed_precondition(reason, subject, message.clone()),
            JobError::OutOfRange { .. } => Status::out_of_range(err.to_string()),
            JobError::Store(store) => status::store(store),
        }
    }
}
