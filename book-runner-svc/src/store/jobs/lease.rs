//! Workers' writes: claiming a job with a lease, renewing it, and fenced updates.
//!
//! A claim bumps the job's `lease_epoch`; every later write of that worker names the epoch it
//! holds and is refused once another worker has claimed the job (its lease had expired). A
//! worker that lost its lease therefore cannot write anything, however late it wakes up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    prelude::Expr,
    sea_query::{ExprTrait as _, LockBehavior, LockType},
};

use super::{
    MAX_LOG_LINES_PER_STEP, SeaJobStore, reports,
    rows::{event_row, stored_event},
};
use crate::{
    domain::{
        error::StoreError,
        job::{EventKind, Job, JobEvent, JobStatus, StepStatus},
    },
    store::entity::{job, job_event, job_step, step_log},
};

/// The right of one worker to run one job, until it expires or is taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Storage id of the job.
    pub job_id: String,
    /// The fencing token this worker holds.
    pub epoch: i64,
    /// Who holds it.
    pub owner: String,
}

/// Why a worker's write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another worker holds the job now: stop working on it.
    #[error("lease lost: another worker took the job over")]
    Fenced,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbErr> for WriteError {
    fn from(err: DbErr) -> Self {
        Self::Store(err.into())
    }
}

/// One change a worker records; entries are applied in order, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An event, numbered after the previous ones.
    Event(EventKind),
    /// A step's new state.
    Step {
        /// Step index.
        index: usize,
        /// New status.
        status: StepStatus,
        /// Attempts made.
        attempts: u32,
        /// When it started (kept if already set).
        started_at: Option<DateTime<Utc>>,
        /// When it ended.
        ended_at: Option<DateTime<Utc>>,
        /// Why it failed.
        message: String,
    },
    /// A log line of a step, stored (and sent to watchers) unless the step's log is full.
    Log {
        /// Step index.
        step_index: usize,
        /// Attempt.
        attempt: u32,
        /// The line.
        line: String,
    },
    /// The job's end: its final status, and its outcome queued for reporting.
    Finish {
        /// Final status.
        status: JobStatus,
        /// Why.
        message: String,
    },
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The job, as claimed.
    pub job: Job,
    /// The lease to write with.
    pub lease: Lease,
    /// Whether another worker had it before and lost it (its lease expired).
    pub takeover: bool,
    /// Whether someone asked to cancel it.
    pub cancel_requested: bool,
    /// Events recorded by the claim (`JobStarted`).
    pub events: Vec<JobEvent>,
}

impl SeaJobStore {
    /// Claims the oldest job that is queued, or running under an expired lease, for `owner`
    /// until `now + ttl`. On PostgreSQL, workers skip rows another worker is claiming
    /// (`FOR UPDATE SKIP LOCKED`), so replicas share the work without waiting on each other.
    pub async fn claim(
        &self,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let txn = begin_write(self.connection()).await?;
        let mut candidate = job::Entity::find()
            .filter(
                Condition::any()
                    .add(job::Column::Status.eq(JobStatus::Queued.as_str()))
                    .add(
                        Condition::all()
                            .add(job::Column::Status.eq(JobStatus::Running.as_str()))
                            .add(job::Column::LeaseExpiresAt.lt(now)),
                    ),
            )
            .order_by_asc(job::Column::Id)
            .limit(1);
        if txn.get_database_backend() == DbBackend::Postgres {
            candidate = candidate.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let Some(row) = candidate.one(&txn).await? else {
            return Ok(None);
        };
        let takeover = row.status == JobStatus::Running.as_str();
        let epoch = row.lease_epoch + 1;
        let expires =
            now + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(30));
        let sequence = row.last_sequence + 1;
        let claimed = job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Running.as_str()),
            )
            .col_expr(job::Column::LeaseOwner, Expr::value(owner))
            .col_expr(job::Column::LeaseEpoch, Expr::value(epoch))
            .col_expr(job::Column::LeaseExpiresAt, Expr::value(expires))
            .col_expr(
                job::Column::StartedAt,
                Expr::value(row.started_at.unwrap_or(now)),
            )
            .col_expr(job::Column::LastSequence, Expr::value(sequence))
            .filter(job::Column::Id.eq(row.id.clone()))
            .filter(job::Column::LeaseEpoch.eq(row.lease_epoch))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            // Someone else claimed it first; the caller simply tries again.
            return Ok(None);
        }
        let kind = EventKind::JobStarted { takeover };
        job_event::Entity::insert(event_row(&row.id, sequence, now, &kind))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;

        // The row as the claim left it: only its steps still need reading.
        let lease = Lease {
            job_id: row.id.clone(),
            epoch,
            owner: owner.to_owned(),
        };
        let cancel_requested = row.cancel_requested;
        let events = vec![stored_event(&row.id, sequence, now, kind)];
        let job = self
            .with_steps(job::Model {
                status: JobStatus::Running.as_str().to_owned(),
                lease_owner: Some(owner.to_owned()),
                lease_epoch: epoch,
                lease_expires_at: Some(expires),
                started_at: Some(row.started_at.unwrap_or(now)),
                last_sequence: sequence,
                ..row
            })
            .await?;
        Ok(Some(Claim {
            job,
            lease,
            takeover,
            cancel_requested,
            events,
        }))
    }

    /// Extends `lease` until `until`; tells whether cancellation was requested meanwhile.
    pub async fn renew(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool, WriteError> {
        let renewed = job::Entity::update_many()
            .col_expr(job::Column::LeaseExpiresAt, Expr::value(until))
            .filter(job::Column::Id.eq(lease.job_id.clone()))
            .filter(job::Column::LeaseEpoch.eq(lease.epoch))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(self.connection())
            .await?;
        if renewed.rows_affected == 0 {
            return Err(WriteError::Fenced);
        }
        let cancel_requested = job::Entity::find_by_id(lease.job_id.clone())
            .select_only()
            .column(job::Column::CancelRequested)
            .into_tuple::<bool>()
            .one(self.connection())
            .await?
            .unwrap_or(false);
        Ok(cancel_requested)
    }

    /// Applies `entries` atomically under `lease`, numbering events after the job's last one.
    /// Returns the events stored (log lines beyond the step's limit are dropped).
    pub async fn record(
        &self,
        lease: &Lease,
        entries: Vec<Entry>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobEvent>, WriteError> {
        let txn = begin_write(self.connection()).await?;
        // Without log lines (which may be dropped when a step's log is full) the number of
        // events is known: the sequence numbers are taken by the fencing statement itself.
        let events = entries
            .iter()
            .filter(|entry| matches!(entry, Entry::Event(_)))
            .count();
        let exact = !entries
            .iter()
            .any(|entry| matches!(entry, Entry::Log { .. }));
        let taken = if exact {
            i64::try_from(events).unwrap_or(i64::MAX)
        } else {
            0
        };
        // The fencing check, which also locks the job row for the rest of the transaction and
        // reads the last sequence number, in one round trip.
        let fenced = job::Entity::update_many()
            .col_expr(
                job::Column::LastSequence,
                Expr::col(job::Column::LastSequence).add(taken),
            )
            .filter(job::Column::Id.eq(lease.job_id.clone()))
            .filter(job::Column::LeaseEpoch.eq(lease.epoch))
            .exec_with_returning(&txn)
            .await?;
        let Some(row) = fenced.first() else {
            return Err(WriteError::Fenced);
        };
        let mut sequence: i64 = row.last_sequence - taken;

        let mut stored = Vec::new();
        for entry in entries {
            let event = match entry {
                Entry::Event(kind) => Some(kind),
                Entry::Step {
                    index,
                    status,
                    attempts,
                    started_at,
                    ended_at,
                    message,
                } => {
                    update_step(
                        &txn,
                        &lease.job_id,
                        index,
                        status,
                        attempts,
                        started_at,
                        ended_at,
                        message,
                    )
                    .await?;
                    None
                }
                Entry::Log {
                    step_index,
                    attempt,
                    line,
                } => append_log(&txn, &lease.job_id, step_index, attempt, &line, now)
                    .await?
                    .then_some(EventKind::StepLog {
                        step_index,
                        attempt,
                        line,
                    }),
                Entry::Finish { status, message } => {
                    finish(&txn, &lease.job_id, status, &message, now).await?;
                    None
                }
            };
            if let Some(kind) = event {
                sequence += 1;
                job_event::Entity::insert(event_row(&lease.job_id, sequence, now, &kind))
                    .exec_without_returning(&txn)
                    .await?;
                stored.push(stored_event(&lease.job_id, sequence, now, kind));
            }
        }
        if !exact {
            job::Entity::update_many()
                .col_expr(job::Column::LastSequence, Expr::value(sequence))
                .filter(job::Column::Id.eq(lease.job_id.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(stored)
    }
}

#[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
async fn update_step(
    txn: &DatabaseTransaction,
    job_id: &str,
    index: usize,
    status: StepStatus,
    attempts: u32,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    message: String,
) -> Result<(), DbErr> {
    let mut update = job_step::Entity::update_many()
        .col_expr(job_step::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            job_step::Column::Attempts,
            Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
        )
        .col_expr(job_step::Column::EndedAt, Expr::value(ended_at))
        .col_expr(job_step::Column::Message, Expr::value(message));
    if let Some(started_at) = started_at {
        // The first attempt's start is the step's start; later attempts keep it.
        update = update.col_expr(
            job_step::Column::StartedAt,
            Expr::col(job_step::Column::StartedAt).if_null(started_at),
        );
    }
    update
        .filter(job_step::Column::JobId.eq(job_id))
        .filter(job_step::Column::StepIndex.eq(i32::try_from(index).unwrap_or(i32::MAX)))
        .exec(txn)
        .await?;
    Ok(())
}

/// Stores one log line unless the step's log is full; tells whether it was stored.
async fn append_log(
    txn: &DatabaseTransaction,
    job_id: &str,
    step_index: usize,
    attempt: u32,
    line: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let index = i32::try_from(step_index).unwrap_or(i32::MAX);
    let step = job_step::Column::JobId
        .eq(job_id)
        .and(job_step::Column::StepIndex.eq(index));
    // Counting the line and checking the limit in one statement, which returns the line's number.
    let counted = job_step::Entity::update_many()
        .col_expr(
            job_step::Column::LogLines,
            Expr::col(job_step::Column::LogLines).add(1),
        )
        .filter(step.clone())
        .filter(job_step::Column::LogLines.lt(MAX_LOG_LINES_PER_STEP))
        .exec_with_returning(txn)
        .await?;
    let Some(counted) = counted.first() else {
        job_step::Entity::update_many()
            .col_expr(job_step::Column::LogTruncated, Expr::value(true))
            .filter(step)
            .exec(txn)
            .await?;
        return Ok(false);
    };
    step_log::Entity::insert(step_log::ActiveModel {
        job_id: sea_orm::ActiveValue::Set(job_id.to_owned()),
        step_index: sea_orm::ActiveValue::Set(index),
        number: sea_orm::ActiveValue::Set(counted.log_lines),
        attempt: sea_orm::ActiveValue::Set(i32::try_from(attempt).unwrap_or(i32::MAX)),
        time: sea_orm::ActiveValue::Set(now),
        text: sea_orm::ActiveValue::Set(line.to_owned()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(true)
}

async fn finish(
    txn: &DatabaseTransaction,
    job_id: &str,
    status: JobStatus,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status.as_str()))
        .col_expr(job::Column::Message, Expr::value(message))
        .col_expr(job::Column::EndedAt, Expr::value(now))
        .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(job::Column::ReportState, Expr::value(reports::PENDING))
        .col_expr(job::Column::NextReportAt, Expr::value(now))
        .filter(job::Column::Id.eq(job_id))
        .exec(txn)
        .await?;
    Ok(())
}
