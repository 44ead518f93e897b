//! The lifecycle's peers over gRPC: book-runner-svc's JobRunner and version-svc's history.

use eyrie_platform::{grpc::TracedChannel, names::DeploymentName, peer_status::PeerFailure};
use eyrie_proto::{
    internal::v1::{
        GetJobOutcomesRequest, JobOutcome, StartJobRequest, job_runner_client::JobRunnerClient,
    },
    v1::{self as pb, GetVersionRequest, version_service_client::VersionServiceClient},
};
use tonic::{Code, Status};

use super::convert::{action_to_proto, phase_to_proto, snapshot_to_proto};
use crate::{
    domain::{DeploymentError, operation::Operation, resources::KeyFields},
    service::peers::{DeploymentContext, JobRunner, StartRefused, VersionHistory},
};

/// book-runner-svc's JobRunner.
#[derive(Clone)]
pub struct RemoteJobRunner(pub JobRunnerClient<TracedChannel>);

#[async_trait::async_trait]
impl JobRunner for RemoteJobRunner {
    async fn start_job(
        &self,
        operation: &Operation,
        book: &str,
        context: &DeploymentContext,
    ) -> Result<pb::Job, StartRefused> {
        // The first job of a retry names the job it retries, and resumes at its failed step if
        // asked; later phases run whole.
        let first_of_retry = operation.phase_index == 0 && operation.retry_of.is_some();
        let request = StartJobRequest {
            request_id: operation.job_request_id(),
            snapshot: Some(snapshot_to_proto(context)),
            action: action_to_proto(operation.action).into(),
            phase: phase_to_proto(operation.current_phase()).into(),
            book: book.to_owned(),
            operation: operation.name.clone(),
            actor: operation.actor.clone(),
            retry_of: match (first_of_retry, &operation.resume_job) {
                (true, Some(job)) => job.clone(),
                _ => String::new(),
            },
            resume_from_failed_step: first_of_retry && operation.resume_job.is_some(),
        };
        match self.0.clone().start_job(request).await {
            Ok(job) => Ok(job.into_inner()),
            // A refusal of the request itself (its book, its snapshot, the project's rights)
            // is the same every time: it ends the operation. Anything else is about the runner
            // or the way to it, which an operator fixes: the reconciler tries again.
            Err(status) if PeerFailure::of(status.code()).is_transient() => {
                Err(StartRefused::Transient(unavailable(&status)))
            }
            Err(status) => Err(StartRefused::Permanent(refusal(&status))),
        }
    }

    async fn outcomes(&self, jobs: &[String]) -> Result<Vec<JobOutcome>, DeploymentError> {
        let request = GetJobOutcomesRequest {
            jobs: jobs.to_vec(),
        };
        match self.0.clone().get_job_outcomes(request).await {
            Ok(answer) => Ok(answer.into_inner().outcomes),
            Err(status) => Err(unavailable(&status)),
        }
    }
}

/// version-svc's VersionService.
#[derive(Clone)]
pub struct RemoteVersionHistory(pub VersionServiceClient<TracedChannel>);

#[async_trait::async_trait]
impl VersionHistory for RemoteVersionHistory {
    async fn key_fields(
        &self,
        deployment: &DeploymentName,
        version: i64,
    ) -> Result<KeyFields, DeploymentError> {
        let name = format!("{deployment}/versions/{version}");
        let request = GetVersionRequest { name: name.clone() };
        match self.0.clone().get_version(request).await {
            Ok(found) => Ok(KeyFields::from(
                found.into_inner().key_fields.unwrap_or_default(),
            )),
            // As the contract says: the version asked for is a resource that is not there.
            Err(status) if status.code() == Code::NotFound => Err(DeploymentError::NotFound {
                kind: "version",
                name,
            }),
            Err(status) => Err(DeploymentError::Unavailable(format!(
                "version-svc: {}",
                status.message()
            ))),
        }
    }
}

fn unavailable(status: &Status) -> DeploymentError {
    DeploymentError::Unavailable(format!("book-runner-svc: {}", status.message()))
}

/// Why the runner refused, for the operation's message: its words, or the code's meaning when
/// it gave none.
fn refusal(status: &Status) -> String {
    match status.message() {
        "" => status.code().description().to_owned(),
        message => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_without_words_still_says_why() {
        let status = Status::failed_precondition("book x requires parameter \"release\"");
        assert_eq!(refusal(&status), "book x requires parameter \"release\"");
        assert_eq!(
            refusal(&Status::not_found("")),
            Code::NotFound.description()
        );
    }
}
