//! Jobs in book-runner-svc's database: creating them, reading them, their events and logs.
//! Worker writes (claims, leases, fenced step updates) are in [`lease`]; the outcome-report
//! outbox in [`reports`]; retention (deleting old finished jobs) in [`prune`].

mod claim_pg;
mod create_pg;
mod lease;
#[cfg(test)]
mod one_statement_tests;
mod prune;
mod record;
mod record_pg;
mod reports;
mod rows;

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound as _, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, DbBackend, DbErr,
    EntityTrait as _, IntoActiveModel as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    SqlErr, prelude::Expr,
};

use self::rows::{corrupt, event_row, to_event, to_job};
pub use self::{
    lease::{Claim, Lease, StartedStep, WriteError},
    prune::{Pruned, Retention},
    record::Entry,
};
use super::entity::{job, job_event, job_step, step_log};
use crate::domain::{
    error::StoreError,
    job::{EventKind, Job, JobEvent, JobStatus, NewJob, StepStatus},
};

/// Most log lines kept per step; later lines are dropped and the log marked truncated.
pub const MAX_LOG_LINES_PER_STEP: i64 = 2000;

/// The condition "the job is queued or running", with the statuses written as constants: it
/// then matches the partial indexes of active jobs, which a bound parameter would hide from the
/// planner.
pub(super) fn is_active() -> sea_orm::sea_query::Expr {
    Expr::cust(format!(
        "\"status\" IN ('{}', '{}')",
        JobStatus::Queued.as_str(),
        JobStatus::Running.as_str()
    ))
}

/// Jobs in the runner's own database.
#[derive(Debug, Clone)]
pub struct SeaJobStore {
    db: DatabaseConnection,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// Exact deployment name, or `None` for every deployment under `prefix`.
    pub deployment: Option<String>,
    /// Deployment name prefix (e.g. `projects/acme/`), used when `deployment` is `None`.
    pub prefix: String,
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs older than this id (ids grow with time), for paging.
    pub before_id: Option<String>,
    /// Page size.
    pub limit: u64,
}

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 1, 2, 3, ... per step.
    pub number: u64,
    /// Attempt that wrote it.
    pub attempt: u32,
    /// When.
    pub time: DateTime<Utc>,
    /// The line.
    pub text: String,
}

impl SeaJobStore {
    /// Uses `db`, whose migrations have been applied.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The database connection, for callers that need the backend.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates a queued job, or returns the one created earlier for the same deployment with the
    /// same request id (`false`): a retried StartJob never starts a second job. A request id held
    /// by another deployment's job is an error: that job is never returned (see
    /// [`SeaJobStore::request_id_in_use`]).
    pub async fn create(
        &self,
        id: &str,
        new: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<(Job, bool), StoreError> {
        // Inserting first costs a new job (the common case) no lookup; a replayed request id
        // runs into the unique index and gets the job created earlier.
        match self.insert(id, new, now).await {
            Ok(job) => Ok((job, true)),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let deployment = &new.snapshot.deployment.name;
                let existing = self.find_by_request_id(deployment, &new.request_id).await?;
                existing
                    .map(|job| (job, false))
                    .ok_or_else(|| StoreError::from(err))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn insert(&self, id: &str, new: &NewJob, now: DateTime<Utc>) -> Result<Job, DbErr> {
        // Whole microseconds, as both databases keep them: the job returned is the job stored.
        let now = now.trunc_subsecs(6);
        let mut events = vec![EventKind::JobQueued];
        events.extend(
            (0..new.resume_from.min(new.book_content.steps.len())).map(|index| {
                EventKind::StepSkipped {
                    step_index: index,
                    reason: String::new(),
                }
            }),
        );
        let row = job::Model {
            id: id.to_owned(),
            name: format!("{}/jobs/{id}", new.snapshot.deployment.name),
            deployment: new.snapshot.deployment.name.clone(),
            operation: new.operation.clone(),
            action: new.action.clone(),
            phase: new.phase.as_str().to_owned(),
            book: new.book.clone(),
            book_content: serde_json::to_string(&new.book_content).expect("books serialise"),
            snapshot: serde_json::to_string(&new.snapshot).expect("snapshots serialise"),
            status: JobStatus::Queued.as_str().to_owned(),
            message: String::new(),
            actor: new.actor.clone(),
            request_id: new.request_id.clone(),
            retry_of: new.retry_of.clone(),
            resume_from: i32::try_from(new.resume_from).unwrap_or(0),
            created_at: now,
            started_at: None,
            ended_at: None,
            lease_owner: None,
            lease_epoch: 0,
            lease_expires_at: None,
            cancel_requested: false,
            last_sequence: i64::try_from(events.len()).unwrap_or(i64::MAX),
            report_state: reports::NONE.to_owned(),
            report_attempts: 0,
            next_report_at: None,
            opening_step: opening_step(new),
        };
        let steps: Vec<job_step::Model> = new
            .book_content
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| job_step::Model {
                job_id: id.to_owned(),
                step_index: i32::try_from(index).unwrap_or(i32::MAX),
                name: step.name.clone(),
                uses: step.uses.clone(),
                status: if index < new.resume_from {
                    StepStatus::Skipped
                } else {
                    StepStatus::Pending
                }
                .as_str()
                .to_owned(),
                attempts: 0,
                started_at: None,
                ended_at: None,
                message: String::new(),
                log_lines: 0,
                log_truncated: false,
            })
            .collect();

        if self.db.get_database_backend() == DbBackend::Postgres {
            create_pg::insert(&self.db, &row, &steps, &events, now).await?;
        } else {
            self.insert_in_one_transaction(&row, &steps, &events, now)
                .await?;
        }
        // The job as stored, without reading it back.
        to_job(row, steps).map_err(|err| DbErr::Custom(err.to_string()))
    }

    /// [`SeaJobStore::insert`] on SQLite: the job row, its steps and its first events.
    async fn insert_in_one_transaction(
        &self,
        row: &job::Model,
        steps: &[job_step::Model],
        events: &[EventKind],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let id = row.id.as_str();
        let txn = begin_write(&self.db).await?;
        // The job row first: steps and events refer to it.
        job::Entity::insert(row.clone().into_active_model().reset_all())
            .exec_without_returning(&txn)
            .await?;
        let step_rows = steps
            .iter()
            .map(|step| step.clone().into_active_model().reset_all())
            .collect();
        record::insert_in_chunks::<job_step::Entity, _>(&txn, step_rows).await?;
        let event_rows = (1..)
            .zip(events)
            .map(|(sequence, kind)| event_row(id, sequence, now, kind))
            .collect();
        record::insert_in_chunks::<job_event::Entity, _>(&txn, event_rows).await?;
        txn.commit().await
    }

    /// The job of `deployment` started with `request_id`: a replay is looked for among the
    /// deployment's own jobs only, so it can never be answered with another tenant's job.
    pub async fn find_by_request_id(
        &self,
        deployment: &str,
        request_id: &str,
    ) -> Result<Option<Job>, StoreError> {
        let row = job::Entity::find()
            .filter(job::Column::Deployment.eq(deployment))
            .filter(job::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?;
        self.with_steps(row).await
    }

    /// Whether some job, of whatever deployment, was started with `request_id` (the column is
    /// unique across deployments: deployment-svc derives ids from operation names, which begin
    /// with the deployment's name, so two deployments never send the same one).
    pub async fn request_id_in_use(&self, request_id: &str) -> Result<bool, StoreError> {
        let row = job::Entity::find()
            .filter(job::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?;
        Ok(row.is_some())
    }

    /// The job of `row`, if there is one, with its steps.
    async fn with_steps(&self, row: Option<job::Model>) -> Result<Option<Job>, StoreError> {
        let mut jobs = self.with_steps_of_all(row.into_iter().collect()).await?;
        Ok(jobs.pop())
    }

    /// Jobs of `rows`, in order, with their steps read in one query.
    async fn with_steps_of_all(&self, rows: Vec<job::Model>) -> Result<Vec<Job>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut steps_of: HashMap<String, Vec<job_step::Model>> = HashMap::new();
        for step in job_step::Entity::find()
            .filter(job_step::Column::JobId.is_in(rows.iter().map(|row| row.id.clone())))
            .order_by_asc(job_step::Column::JobId)
            .order_by_asc(job_step::Column::StepIndex)
            .all(&self.db)
            .await?
        {
            steps_of.entry(step.job_id.clone()).or_default().push(step);
        }
        rows.into_iter()
            .map(|row| {
                let steps = steps_of.remove(&row.id).unwrap_or_default();
                to_job(row, steps)
            })
            .collect()
    }

    /// How many jobs are queued and how many running now, in every replica (the metrics'
    /// gauges); read through the partial index of active jobs.
    pub async fn active_counts(&self) -> Result<(u64, u64), StoreError> {
        let counts: Vec<(String, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::Status)
            .column_as(
                Expr::from(sea_orm::sea_query::Func::count(Expr::col(job::Column::Id))),
                "count",
            )
            .filter(is_active())
            .group_by(job::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        let count = |status: JobStatus| {
            counts
                .iter()
                .find(|(name, _)| name == status.as_str())
                .map_or(0, |(_, count)| u64::try_from(*count).unwrap_or(0))
        };
        Ok((count(JobStatus::Queued), count(JobStatus::Running)))
    }

    /// The job with storage id `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let row = job::Entity::find_by_id(id.to_owned()).one(&self.db).await?;
        self.with_steps(row).await
    }

    /// The sequence number of job `id`'s last event, without reading the rest of the job.
    pub async fn last_sequence(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let last: Option<i64> = job::Entity::find_by_id(id.to_owned())
            .select_only()
            .column(job::Column::LastSequence)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(last.map(|last| u64::try_from(last).unwrap_or(0)))
    }

    /// Jobs matching `query`, newest first.
    pub async fn list(&self, query: &JobQuery) -> Result<Vec<Job>, StoreError> {
        let mut select = job::Entity::find();
        select = match &query.deployment {
            Some(deployment) => select.filter(job::Column::Deployment.eq(deployment.clone())),
            None => select.filter(job::Column::Deployment.starts_with(query.prefix.clone())),
        };
        if let Some(status) = query.status {
            select = select.filter(job::Column::Status.eq(status.as_str()));
        }
        if let Some(before) = &query.before_id {
            select = select.filter(job::Column::Id.lt(before.clone()));
        }
        let rows = select
            .order_by_desc(job::Column::Id)
            .limit(query.limit)
            .all(&self.db)
            .await?;
        self.with_steps_of_all(rows).await
    }

    /// Events of job `id` numbered above `after`, in order, at most `limit`.
    pub async fn events_after(
        &self,
        id: &str,
        after: u64,
        limit: u64,
    ) -> Result<Vec<JobEvent>, StoreError> {
        job_event::Entity::find()
            .filter(job_event::Column::JobId.eq(id))
            .filter(job_event::Column::Sequence.gt(i64::try_from(after).unwrap_or(i64::MAX)))
            .order_by_asc(job_event::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_event)
            .collect()
    }

    /// Log lines of one step numbered above `after`, and whether the log was truncated.
    pub async fn step_log(
        &self,
        id: &str,
        step_index: usize,
        after: u64,
        limit: u64,
    ) -> Result<(Vec<LogLine>, bool), StoreError> {
        let index = i32::try_from(step_index).map_err(|_| corrupt("step index"))?;
        let truncated = job_step::Entity::find_by_id((id.to_owned(), index))
            .one(&self.db)
            .await?
            .is_some_and(|step| step.log_truncated);
        let lines = step_log::Entity::find()
            .filter(step_log::Column::JobId.eq(id))
            .filter(step_log::Column::StepIndex.eq(index))
            .filter(step_log::Column::Number.gt(i64::try_from(after).unwrap_or(i64::MAX)))
            .order_by_asc(step_log::Column::Number)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| LogLine {
                number: u64::try_from(row.number).unwrap_or(0),
                attempt: u32::try_from(row.attempt).unwrap_or(0),
                time: row.time,
                text: row.text,
            })
            .collect();
        Ok((lines, truncated))
    }

    /// Asks job `id` to stop. A queued job ends `cancelled` at once; a running one is flagged
    /// and its worker stops it; an ended one is left as it is (cancelling is idempotent).
    pub async fn request_cancel(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Job, Vec<JobEvent>)>, StoreError> {
        let txn = begin_write(&self.db).await?;
        let Some(row) = job::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let status =
            JobStatus::parse(&row.status).ok_or_else(|| corrupt(format!("job {id} status")))?;
        let mut events = Vec::new();
        match status {
            JobStatus::Queued => {
                let steps = job_step::Entity::find()
                    .filter(job_step::Column::JobId.eq(id))
                    .filter(job_step::Column::Status.eq(StepStatus::Pending.as_str()))
                    .order_by_asc(job_step::Column::StepIndex)
                    .all(&txn)
                    .await?;
                let mut kinds: Vec<EventKind> = steps
                    .iter()
                    .map(|step| EventKind::StepSkipped {
                        step_index: usize::try_from(step.step_index).unwrap_or(0),
                        reason: String::new(),
                    })
                    .collect();
                let message = "cancelled before it started".to_owned();
                kinds.push(EventKind::JobEnded {
                    status: JobStatus::Cancelled,
                    message: message.clone(),
                });
                job_step::Entity::update_many()
                    .col_expr(
                        job_step::Column::Status,
                        Expr::value(StepStatus::Skipped.as_str()),
                    )
                    .filter(job_step::Column::JobId.eq(id))
                    .filter(job_step::Column::Status.eq(StepStatus::Pending.as_str()))
                    .exec(&txn)
                    .await?;
                for (offset, kind) in kinds.into_iter().enumerate() {
                    let sequence = row.last_sequence + i64::try_from(offset + 1).unwrap_or(0);
                    job_event::Entity::insert(event_row(id, sequence, now, &kind))
                        .exec_without_returning(&txn)
                        .await?;
                    events.push(rows::stored_event(id, sequence, now, kind));
                }
                let last_sequence = row.last_sequence + i64::try_from(events.len()).unwrap_or(0);
                job::Entity::update_many()
                    .col_expr(
                        job::Column::Status,
                        Expr::value(JobStatus::Cancelled.as_str()),
                    )
                    .col_expr(job::Column::Message, Expr::value(message))
                    .col_expr(job::Column::EndedAt, Expr::value(now))
                    .col_expr(job::Column::CancelRequested, Expr::value(true))
                    .col_expr(job::Column::LastSequence, Expr::value(last_sequence))
                    .col_expr(job::Column::ReportState, Expr::value(reports::PENDING))
                    .col_expr(job::Column::NextReportAt, Expr::value(now))
                    .filter(job::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
            }
            JobStatus::Running => {
                job::Entity::update_many()
                    .col_expr(job::Column::CancelRequested, Expr::value(true))
                    .filter(job::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
            }
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled => {}
        }
        txn.commit().await?;
        Ok(self.get(id).await?.map(|job| (job, events)))
    }
}

/// The step a new job's first claim starts by itself, as [`ClaimStart`] plans it for a job
/// never claimed before: the first one to run (the steps before `resume_from` are skipped), if
/// there is one and a claim starts it.
///
/// [`ClaimStart`]: lease::ClaimStart
fn opening_step(new: &NewJob) -> Option<i32> {
    let first = new.resume_from;
    (first < new.book_content.steps.len() && lease::starts_when_claimed(&new.book_content, first))
        .then(|| i32::try_from(first).ok())
        .flatten()
}
