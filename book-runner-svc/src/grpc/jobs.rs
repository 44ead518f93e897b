//! `eyrie.v1.JobService`: thin handlers over [`Jobs`].

use std::sync::Arc;

use eyrie_platform::{
    names::{DeploymentScope, JobName},
    paging::{decode_for, encode_for, page_size},
    status::FieldViolation,
};
use eyrie_proto::v1::{
    CancelJobRequest, GetJobRequest, GetJobStepLogRequest, GetJobStepLogResponse, Job,
    ListJobsRequest, ListJobsResponse, RetryJobRequest, StepLogLine, WatchJobRequest,
    WatchJobResponse, job_service_server::JobService,
};
use tonic::{Request, Response, Status, codegen::BoxStream};

use super::{
    convert::job::{job_to_proto, status_from_proto, timestamp},
    watch::watch,
};
use crate::service::jobs::{JobError, Jobs};

/// Serves `eyrie.v1.JobService`.
#[derive(Clone)]
pub struct JobGrpc {
    jobs: Arc<Jobs>,
}

impl JobGrpc {
    /// Serves `jobs`.
    pub fn new(jobs: Arc<Jobs>) -> Self {
        Self { jobs }
    }
}

fn invalid(violation: FieldViolation) -> Status {
    JobError::Invalid(vec![violation]).into()
}

#[tonic::async_trait]
impl JobService for JobGrpc {
    async fn get_job(&self, request: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
        let name = JobName::parse("name", &request.into_inner().name).map_err(invalid)?;
        Ok(Response::new(job_to_proto(&self.jobs.get(&name).await?)))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let request = request.into_inner();
        let scope = DeploymentScope::parse("parent", &request.parent).map_err(invalid)?;
        let limit = page_size(request.page_size).map_err(invalid)?;
        let status = status_from_proto(request.status());
        // A page token belongs to one list: this parent and this status filter.
        let list = format!("{}?status={}", request.parent, request.status);
        let before: Option<String> = decode_for(&list, &request.page_token).map_err(invalid)?;
        let mut jobs = self.jobs.list(&scope, status, before, limit + 1).await?;
        let next_page_token = if jobs.len() as u64 > limit {
            jobs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            jobs.last()
                .map(|last| encode_for(&list, &last.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListJobsResponse {
            jobs: jobs.iter().map(job_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<Job>, Status> {
        let name = JobName::parse("name", &request.into_inner().name).map_err(invalid)?;
        Ok(Response::new(job_to_proto(&self.jobs.cancel(&name).await?)))
    }

    /// Retries are decided by deployment-svc's lifecycle, which knows the job's operation: the
    /// gateway asks it directly (`DeploymentCallbacks.RetryOperation`), never the runner.
    async fn retry_job(&self, request: Request<RetryJobRequest>) -> Result<Response<Job>, Status> {
        let name = JobName::parse("name", &request.into_inner().name).map_err(invalid)?;
        Err(Status::unimplemented(format!(
            "RetryJob of {name} is served by the gateway, which asks deployment-svc to retry the job's operation"
        )))
    }

    async fn get_job_step_log(
        &self,
        request: Request<GetJobStepLogRequest>,
    ) -> Result<Response<GetJobStepLogResponse>, Status> {
        let request = request.into_inner();
        let name = JobName::parse("job", &request.job).map_err(invalid)?;
        let limit = match request.page_size {
            0 => 500,
            size => page_size(size).map_err(invalid)?.min(5000),
        };
        // A page token belongs to one step's log.
        let list = format!("{}#step={}", request.job, request.step_index);
        let after: Option<u64> = decode_for(&list, &request.page_token).map_err(invalid)?;
        let step = usize::try_from(request.step_index).unwrap_or(usize::MAX);
        let after = after.unwrap_or(0);
        let (mut lines, truncated) = self.jobs.step_log(&name, step, after, limit + 1).await?;
        let more = lines.len() as u64 > limit;
        lines.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match lines.last() {
            Some(last) if more => encode_for(&list, last.number),
            _ => String::new(),
        };
        Ok(Response::new(GetJobStepLogResponse {
            lines: lines
                .into_iter()
                .map(|line| StepLogLine {
                    number: line.number,
                    attempt: line.attempt,
                    time: Some(timestamp(line.time)),
                    text: line.text,
                })
                .collect(),
            next_page_token,
            truncated,
        }))
    }

    async fn watch_job(
        &self,
        request: Request<WatchJobRequest>,
    ) -> Result<Response<BoxStream<WatchJobResponse>>, Status> {
        let request = request.into_inner();
        let name = JobName::parse("name", &request.name).map_err(invalid)?;
        Ok(Response::new(
            watch(self.jobs.clone(), name, request.after_sequence).await?,
        ))
    }
}
