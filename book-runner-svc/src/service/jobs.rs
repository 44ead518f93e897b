//! Job use cases: starting, reading, cancelling and watching jobs.

use std::{collections::HashMap, sync::Arc};

use chrono::Utc;
use eyrie_platform::{
    names::{DeploymentScope, JobName},
    status::FieldViolation,
};

use crate::{
    domain::{
        book::{BookSpec, Phase},
        error::StoreError,
        job::{Job, JobEvent, JobStatus, NewJob, Outcome, StepStatus},
        render::{RenderError, with_parameters},
        snapshot::Snapshot,
    },
    engine::Engine,
    store::jobs::{JobQuery, LogLine},
};

/// Why a job request was refused.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Malformed request; each violation names its field.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No such resource.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `job`, `book`, ...
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Valid, but not possible in the current state.
    #[error("{message}")]
    FailedPrecondition {
        /// Machine-readable reason.
        reason: &'static str,
        /// What is in the wrong state.
        subject: String,
        /// For people.
        message: String,
    },
    /// `after_sequence` beyond the job's last event.
    #[error("after_sequence {after} is beyond the job's last event ({last})")]
    OutOfRange {
        /// Asked.
        after: u64,
        /// Last stored.
        last: u64,
    },
    /// The database failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl JobError {
    fn invalid(violation: FieldViolation) -> Self {
        Self::Invalid(vec![violation])
    }
}

/// A validated StartJob.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// Idempotency key.
    pub request_id: String,
    /// The deployment.
    pub snapshot: Snapshot,
    /// `deploy`, `pause`, `drop`.
    pub action: String,
    /// The book's phase.
    pub phase: Phase,
    /// The book's name.
    pub book: String,
    /// deployment-svc's operation.
    pub operation: String,
    /// Who asked.
    pub actor: String,
    /// The job retried.
    pub retry_of: Option<String>,
    /// Resume at the retried job's failed step.
    pub resume_from_failed_step: bool,
}

/// Starts and reads jobs.
pub struct Jobs {
    engine: Arc<Engine>,
    books: crate::store::books::SeaBookStore,
}

impl Jobs {
    /// Jobs run by `engine`, books read from `books`.
    pub fn new(engine: Arc<Engine>, books: crate::store::books::SeaBookStore) -> Self {
        Self { engine, books }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Queues a job, or returns the job of an earlier request with the same id.
    pub async fn start(&self, request: StartRequest) -> Result<Job, JobError> {
        let book = match self.startable_book(&request).await {
            Ok(book) => book,
            // A replay of a start that went through gets its job, whatever changed since (the
            // book, the deployment's parameters): refusing it would tell deployment-svc that no
            // job runs while one does.
            Err(refusal) => return self.replayed_job_or(&request, refusal).await,
        };
        self.queue(request, book).await
    }

    /// The job an earlier start of `request` (same request id) made, if there was one; else
    /// `refusal`. Looked up only once a start is refused, so a new job costs no extra query.
    async fn replayed_job_or(
        &self,
        request: &StartRequest,
        refusal: JobError,
    ) -> Result<Job, JobError> {
        let deployment = &request.snapshot.deployment.name;
        match self
            .engine
            .store()
            .find_by_request_id(deployment, &request.request_id)
            .await?
        {
            Some(job) => Ok(job),
            None => Err(refusal),
        }
    }

    /// The book `request` names, once it is shown to start for the request's deployment: it
    /// exists, is of the deployment's type and has every parameter it requires.
    async fn startable_book(&self, request: &StartRequest) -> Result<BookSpec, JobError> {
        let stored = self
            .books
            .get(&request.book)
            .await?
            .ok_or_else(|| JobError::NotFound {
                kind: "book",
                name: request.book.clone(),
            })?;
        let book: BookSpec = stored.spec;
        if book.deployment_type != request.snapshot.group.deployment_type {
            return Err(JobError::FailedPrecondition {
                reason: "BOOK_TYPE_MISMATCH",
                subject: request.book.clone(),
                message: format!(
                    "book {} is for {} deployments, not {}",
                    request.book, book.deployment_type, request.snapshot.group.deployment_type
                ),
            });
        }
        if let Err(RenderError::MissingParameter(parameter)) =
            with_parameters(&book, &request.snapshot)
        {
            return Err(JobError::FailedPrecondition {
                reason: "MISSING_PARAMETER",
                subject: request.snapshot.deployment.name.clone(),
                message: format!(
                    "book {} requires parameter {parameter:?}, which deployment {} does not set",
                    request.book, request.snapshot.deployment.name
                ),
            });
        }
        Ok(book)
    }

    /// Queues the job of `request` running `book`, or returns the one an earlier request with
    /// the same id started.
    async fn queue(&self, request: StartRequest, book: BookSpec) -> Result<Job, JobError> {
        let resume_from = match (&request.retry_of, request.resume_from_failed_step) {
            (Some(retried), true) => match self.failed_step_of(retried, &book).await {
                Ok(step) => step,
                // Retention may have deleted the retried job once this retry's job existed
                // (it is then no longer its deployment's newest): a replayed start gets the job
                // it started, as any replay does.
                Err(missing @ JobError::NotFound { .. }) => {
                    return self.replayed_job_or(&request, missing).await;
                }
                Err(err) => return Err(err),
            },
            _ => 0,
        };
        let new = NewJob {
            request_id: request.request_id,
            snapshot: request.snapshot,
            action: request.action,
            phase: request.phase,
            book: request.book,
            book_content: book,
            operation: request.operation,
            actor: request.actor,
            retry_of: request.retry_of,
            resume_from,
        };
        let id = uuid::Uuid::now_v7().simple().to_string();
        let store = self.engine.store();
        let (job, created) = match store.create(&id, &new, Utc::now()).await {
            Ok(started) => started,
            Err(err) => {
                // The id is held by another deployment's job, which is not this caller's to
                // see: refused without naming it.
                if store.request_id_in_use(&new.request_id).await? {
                    tracing::warn!(error = %err, request_id = %new.request_id, "request id of another deployment's job");
                    return Err(JobError::invalid(FieldViolation::new(
                        "request_id",
                        "was already used to start a job of another deployment; a request id starts one job",
                    )));
                }
                return Err(err.into());
            }
        };
        if created {
            tracing::info!(job = %job.name, book = %job.book, "job queued");
            self.engine.job_queued();
        }
        Ok(job)
    }

    /// Index of the first failed step of `retried`, when it ran the same steps.
    async fn failed_step_of(&self, retried: &str, book: &BookSpec) -> Result<usize, JobError> {
        let name = JobName::parse("retry_of", retried).map_err(JobError::invalid)?;
        let job = self.get(&name).await?;
        let failed = job
            .steps
            .iter()
            .position(|step| step.status == StepStatus::Failed)
            .unwrap_or(0);
        // A changed book may not have the same steps any more: run it whole.
        let same_steps = job.book_content.steps.len() == book.steps.len()
            && job
                .book_content
                .steps
                .iter()
                .zip(&book.steps)
                .all(|(a, b)| a.name == b.name && a.uses == b.uses);
        Ok(if same_steps { failed } else { 0 })
    }

    /// The job named `name`.
    pub async fn get(&self, name: &JobName) -> Result<Job, JobError> {
        let job = self.engine.store().get(&name.job).await?;
        job.filter(|job| job.deployment == name.deployment.to_string())
            .ok_or_else(|| JobError::NotFound {
                kind: "job",
                name: name.to_string(),
            })
    }

    /// A page of jobs, newest first.
    pub async fn list(
        &self,
        scope: &DeploymentScope,
        status: Option<JobStatus>,
        before_id: Option<String>,
        limit: u64,
    ) -> Result<Vec<Job>, JobError> {
        let mut query = JobQuery {
            status,
            before_id,
            limit,
            ..JobQuery::default()
        };
        match scope {
            DeploymentScope::One(deployment) => query.deployment = Some(deployment.to_string()),
            DeploymentScope::Prefix(prefix) => query.prefix = prefix.clone(),
        }
        Ok(self.engine.store().list(&query).await?)
    }

    /// Cancels a job (see `CancelJob`); idempotent.
    pub async fn cancel(&self, name: &JobName) -> Result<Job, JobError> {
        self.get(name).await?;
        let (job, events) = self
            .engine
            .store()
            .request_cancel(&name.job, Utc::now())
            .await?
            .ok_or_else(|| JobError::NotFound {
                kind: "job",
                name: name.to_string(),
            })?;
        if !events.is_empty() {
            // A queued job ended here, cancelled before any worker had it.
            crate::engine::metrics::job_finished(JobStatus::Cancelled);
            self.engine.hub().wake(&job.id);
        }
        if job.status == JobStatus::Running {
            self.engine.cancel_local(&job.id);
        }
        Ok(job)
    }

    /// Log lines of one step after line `after`.
    pub async fn step_log(
        &self,
        name: &JobName,
        step_index: usize,
        after: u64,
        limit: u64,
    ) -> Result<(Vec<LogLine>, bool), JobError> {
        let job = self.get(name).await?;
        if step_index >= job.steps.len() {
            return Err(JobError::invalid(FieldViolation::new(
                "step_index",
                format!(
                    "the job has {} steps (0 to {})",
                    job.steps.len(),
                    job.steps.len().saturating_sub(1)
                ),
            )));
        }
        Ok(self
            .engine
            .store()
            .step_log(&job.id, step_index, after, limit)
            .await?)
    }

    /// Stored events of a job after `after`, checking the job exists and `after` is in range.
    pub async fn events_after(
        &self,
        name: &JobName,
        after: u64,
        limit: u64,
    ) -> Result<(Job, Vec<JobEvent>), JobError> {
        let job = self.get(name).await?;
        if after > job.last_sequence {
            return Err(JobError::OutOfRange {
                after,
                last: job.last_sequence,
            });
        }
        let events = self
            .engine
            .store()
            .events_after(&job.id, after, limit)
            .await?;
        Ok((job, events))
    }

    /// Outcomes of the jobs among `names` (ended or not), in their order, and the names the
    /// runner does not know; read in one query, whatever the number of names.
    pub async fn outcomes(
        &self,
        names: &[String],
    ) -> Result<(Vec<Outcome>, Vec<String>), JobError> {
        let parsed: Vec<Option<JobName>> = names
            .iter()
            .map(|name| JobName::parse("jobs", name).ok())
            .collect();
        let ids: Vec<String> = parsed
            .iter()
            .flatten()
            .map(|name| name.job.clone())
            .collect();
        let found: HashMap<String, Outcome> = self
            .engine
            .store()
            .outcomes(&ids)
            .await?
            .into_iter()
            .map(|outcome| (outcome.id.clone(), outcome))
            .collect();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for (name, parsed) in names.iter().zip(parsed) {
            // A job of another deployment is unknown under this name, as `get` finds it.
            let outcome = parsed.and_then(|parsed| {
                found
                    .get(&parsed.job)
                    .filter(|outcome| outcome.deployment == parsed.deployment.to_string())
                    .cloned()
            });
            match outcome {
                Some(outcome) => known.push(outcome),
                None => unknown.push(name.clone()),
            }
        }
        Ok((known, unknown))
    }
}
