//! `eyrie.internal.v1.JobRunner`: what deployment-svc calls.

use std::sync::Arc;

use eyrie_platform::{names::DeploymentName, status::FieldViolation};
use eyrie_proto::{
    internal::v1::{
        GetJobOutcomesRequest, GetJobOutcomesResponse, StartJobRequest,
        job_runner_server::JobRunner,
    },
    v1::Job,
};
use tonic::{Request, Response, Status};

use super::convert::{
    job::{action_from_proto, job_to_proto, outcome, phase_from_proto},
    snapshot::snapshot_from_proto,
};
use crate::service::jobs::{JobError, Jobs, StartRequest};

/// Most names one request may carry.
const MAX_NAMES: usize = 1000;

/// Serves `eyrie.internal.v1.JobRunner`.
#[derive(Clone)]
pub struct RunnerGrpc {
    jobs: Arc<Jobs>,
}

impl RunnerGrpc {
    /// Serves `jobs`.
    pub fn new(jobs: Arc<Jobs>) -> Self {
        Self { jobs }
    }
}

fn check_count(field: &str, count: usize) -> Result<(), Status> {
    if count > MAX_NAMES {
        return Err(JobError::Invalid(vec![FieldViolation::new(
            field,
            format!("at most {MAX_NAMES} names"),
        )])
        .into());
    }
    Ok(())
}

impl TryFrom<StartJobRequest> for StartRequest {
    type Error = JobError;

    fn try_from(request: StartJobRequest) -> Result<Self, Self::Error> {
        let mut violations = Vec::new();
        if request.request_id.trim().is_empty() {
            violations.push(FieldViolation::new(
                "request_id",
                "is required: the same id returns the same job",
            ));
        }
        let action = action_from_proto(request.action());
        if action.is_none() {
            violations.push(FieldViolation::new("action", "is required"));
        }
        let phase = phase_from_proto(request.phase());
        if phase.is_none() {
            violations.push(FieldViolation::new("phase", "is required"));
        }
        if request.book.is_empty() {
            violations.push(FieldViolation::new("book", "is required"));
        }
        let snapshot = match request.snapshot {
            Some(snapshot) => snapshot_from_proto("snapshot", snapshot)
                .map_err(|v| violations.extend(v))
                .ok(),
            None => {
                violations.push(FieldViolation::new("snapshot", "is required"));
                None
            }
        };
        if let Some(snapshot) = &snapshot
            && let Err(violation) =
                DeploymentName::parse("snapshot.deployment.name", &snapshot.deployment.name)
        {
            violations.push(violation);
        }
        match (snapshot, action, phase) {
            (Some(snapshot), Some(action), Some(phase)) if violations.is_empty() => Ok(Self {
                request_id: request.request_id,
                snapshot,
                action: action.to_owned(),
                phase,
                book: request.book,
                operation: request.operation,
                actor: request.actor,
                retry_of: Some(request.retry_of).filter(|r| !r.is_empty()),
                resume_from_failed_step: request.resume_from_failed_step,
            }),
            _ => Err(JobError::Invalid(violations)),
        }
    }
}

#[tonic::async_trait]
impl JobRunner for RunnerGrpc {
    async fn start_job(&self, request: Request<StartJobRequest>) -> Result<Response<Job>, Status> {
        let start = StartRequest::try_from(request.into_inner())?;
        Ok(Response::new(job_to_proto(&self.jobs.start(start).await?)))
    }

    async fn get_job_outcomes(
        &self,
        request: Request<GetJobOutcomesRequest>,
    ) -> Result<Response<GetJobOutcomesResponse>, Status> {
        let request = request.into_inner();
        check_count("jobs", request.jobs.len())?;
        let (jobs, unknown_jobs) = self.jobs.outcomes(&request.jobs).await?;
        Ok(Response::new(GetJobOutcomesResponse {
            outcomes: jobs.iter().map(outcome).collect(),
            unknown_jobs,
        }))
    }
}
