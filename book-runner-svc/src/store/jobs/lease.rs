//! Workers' writes: claiming a job with a lease, renewing it, and fenced updates.
//!
//! A claim bumps the job's `lease_epoch`; every later write of that worker names the epoch it
//! holds and is refused once another worker has claimed the job (its lease had expired). A
//! worker that lost its lease therefore cannot write anything, however late it wakes up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, DbBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, prelude::Expr,
};

use super::{
    SeaJobStore, is_active,
    record::{StepChange, insert_in_chunks, update_step},
    rows::{event_row, to_job},
};
use crate::{
    domain::{
        book::BookSpec,
        error::StoreError,
        job::{EventKind, Job, JobStatus, StepStatus},
    },
    store::entity::{job, job_event, job_step},
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
    /// The step the claim started, if any: the job's next step, unless it is being cancelled or
    /// the step has a condition (the worker starts it if the condition holds).
    pub started_step: Option<StartedStep>,
    /// Whether another job could be claimed too when this one was: the worker looks again when
    /// it is done (and wakes another idle one now) instead of waiting for a signal.
    pub more_claimable: bool,
}

/// A step attempt recorded as started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedStep {
    /// Step index.
    pub index: usize,
    /// The attempt started (1 for a first run; more after retries or a takeover).
    pub attempt: u32,
}

impl SeaJobStore {
    /// Claims the oldest job that is queued, or running under an expired lease, for `owner`
    /// until `now + ttl`, and starts its next step. On PostgreSQL, workers skip rows another
    /// worker is claiming (`FOR UPDATE SKIP LOCKED`), so replicas share the work without waiting
    /// on each other, and the claim is two statements (see `claim_pg`); on SQLite it is one
    /// transaction.
    pub async fn claim(
        &self,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let expires =
            now + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(30));
        if self.connection().get_database_backend() == DbBackend::Postgres {
            return super::claim_pg::claim(self.connection(), owner, expires, now).await;
        }
        self.claim_in_one_transaction(owner, expires, now).await
    }

    /// [`SeaJobStore::claim`] where rows cannot be skipped: the candidate is read, then claimed
    /// if its epoch did not move meanwhile, and its step started, in one transaction.
    async fn claim_in_one_transaction(
        &self,
        owner: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let txn = begin_write(self.connection()).await?;
        // Queued, or running under an expired lease (queued jobs have no lease).
        let candidate = job::Entity::find()
            .filter(is_active())
            .filter(
                Condition::any()
                    .add(job::Column::Status.eq(JobStatus::Queued.as_str()))
                    .add(job::Column::LeaseExpiresAt.lt(now)),
            )
            .order_by_asc(job::Column::Id)
            .limit(2);
        // The second row only tells whether another job waits.
        let mut candidates = candidate.all(&txn).await?.into_iter();
        let Some(row) = candidates.next() else {
            return Ok(None);
        };
        let more_claimable = candidates.next().is_some();
        let steps = job_step::Entity::find()
            .filter(job_step::Column::JobId.eq(row.id.clone()))
            .order_by_asc(job_step::Column::StepIndex)
            .all(&txn)
            .await?;
        let takeover = row.status == JobStatus::Running.as_str();
        let cancel_requested = row.cancel_requested;
        let epoch = row.lease_epoch + 1;
        let job = to_job(row, steps)?;
        let start = ClaimStart::plan(&job, takeover, cancel_requested);
        let started_at = job.started_at.unwrap_or(now);

        let claimed = job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Running.as_str()),
            )
            .col_expr(job::Column::LeaseOwner, Expr::value(owner))
            .col_expr(job::Column::LeaseEpoch, Expr::value(epoch))
            .col_expr(job::Column::LeaseExpiresAt, Expr::value(expires))
            .col_expr(job::Column::StartedAt, Expr::value(started_at))
            .col_expr(job::Column::LastSequence, Expr::value(start.last_sequence))
            .filter(job::Column::Id.eq(job.id.clone()))
            .filter(job::Column::LeaseEpoch.eq(epoch - 1))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            // Someone else claimed it first; the caller simply tries again.
            return Ok(None);
        }
        if let Some(step) = start.step {
            let change = running(step, now);
            update_step(&txn, &job.id, step.index, change).await?;
        }
        let rows = start
            .events()
            .map(|(sequence, kind)| event_row(&job.id, sequence, now, kind))
            .collect();
        insert_in_chunks::<job_event::Entity, _>(&txn, rows).await?;
        txn.commit().await?;
        let lease = Lease {
            job_id: job.id.clone(),
            epoch,
            owner: owner.to_owned(),
        };
        Ok(Some(Claim {
            more_claimable,
            ..start.into_claim(job, lease, started_at, now)
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
}

impl SeaJobStore {
    /// Hands `lease` back: its lease ends at `now`, so any worker may claim the job at once and
    /// run its interrupted step again. Fenced: a lease already taken over changes nothing.
    pub async fn release(&self, lease: &Lease, now: DateTime<Utc>) -> Result<(), WriteError> {
        let released = job::Entity::update_many()
            .col_expr(job::Column::LeaseExpiresAt, Expr::value(now))
            .filter(job::Column::Id.eq(lease.job_id.clone()))
            .filter(job::Column::LeaseEpoch.eq(lease.epoch))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(self.connection())
            .await?;
        // Idle workers of every replica are woken as by a new job (rare: a rollout).
        if released.rows_affected > 0
            && self.connection().get_database_backend() == DbBackend::Postgres
        {
            self.connection()
                .execute_unprepared(&format!("SELECT pg_notify({SIGNALS_CHANNEL_SQL}, '')"))
                .await?;
        }
        Ok(())
    }

    /// The `NOTIFY` channel on which PostgreSQL signals, as they commit, that jobs were queued
    /// or handed back (an empty payload) and that a job has new events (its id): triggers on
    /// `jobs` and `job_events`, see the migration `m20261206_000005_job_signals`. `None` on
    /// SQLite, whose one process wakes its workers and followers in memory.
    pub async fn signals_channel(&self) -> Result<Option<String>, StoreError> {
        let db = self.connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT {SIGNALS_CHANNEL_SQL} AS channel"),
            ))
            .await?
            .ok_or_else(|| StoreError::Database("no answer for the jobs' channel".into()))?;
        Ok(Some(row.try_get::<String>("", "channel")?))
    }
}

/// The jobs' signals channel of the current schema, as SQL: the name the triggers notify.
const SIGNALS_CHANNEL_SQL: &str = "'eyrie_jobs.' || current_schema()";

/// What a claim starts, decided from the job as it was claimed: its next step, unless the job
/// is being cancelled or the step has a condition (the worker starts such a step once its
/// condition holds, so watchers never see a start then a skip), and the events that say so.
pub(super) struct ClaimStart {
    pub takeover: bool,
    pub cancel_requested: bool,
    pub step: Option<StartedStep>,
    pub kinds: Vec<EventKind>,
    /// The sequence of the first event.
    pub first_sequence: i64,
    /// The job's last sequence once the events are written.
    pub last_sequence: i64,
}

impl ClaimStart {
    pub fn plan(job: &Job, takeover: bool, cancel_requested: bool) -> Self {
        let step = if cancel_requested {
            None
        } else {
            job.next_step()
                .filter(|index| starts_when_claimed(&job.book_content, *index))
                .map(|index| StartedStep {
                    index,
                    attempt: job.steps[index].attempts + 1,
                })
        };
        let mut kinds = vec![EventKind::JobStarted { takeover }];
        kinds.extend(step.map(|step| EventKind::StepStarted {
            step_index: step.index,
            attempt: step.attempt,
        }));
        let first_sequence = i64::try_from(job.last_sequence).unwrap_or(i64::MAX) + 1;
        let last_sequence = first_sequence + i64::try_from(kinds.len()).unwrap_or(0) - 1;
        Self {
            takeover,
            cancel_requested,
            step,
            kinds,
            first_sequence,
            last_sequence,
        }
    }

    /// The events to write, with their sequences.
    pub fn events(&self) -> impl Iterator<Item = (i64, &EventKind)> {
        (self.first_sequence..).zip(&self.kinds)
    }

    /// The claim of `job` (as read before the claim), as the claim left it.
    pub fn into_claim(
        self,
        mut job: Job,
        lease: Lease,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Claim {
        job.status = JobStatus::Running;
        job.started_at = Some(started_at);
        job.last_sequence = u64::try_from(self.last_sequence).unwrap_or(0);
        if let Some(started) = self.step {
            let step = &mut job.steps[started.index];
            step.status = StepStatus::Running;
            step.attempts = started.attempt;
            step.started_at.get_or_insert(now);
            step.ended_at = None;
            step.message.clear();
        }
        Claim {
            job,
            lease,
            takeover: self.takeover,
            cancel_requested: self.cancel_requested,
            started_step: self.step,
            more_claimable: false,
        }
    }
}

/// Whether a claim starts step `index` of `book` by itself: unless it has a condition, which the
/// worker evaluates first (the same rule decides a new job's opening step).
pub(super) fn starts_when_claimed(book: &BookSpec, index: usize) -> bool {
    book.steps
        .get(index)
        .is_none_or(|step| step.condition.is_none())
}

/// The state of a step whose attempt starts at `now`.
fn running(step: StartedStep, now: DateTime<Utc>) -> StepChange {
    StepChange {
        status: StepStatus::Running,
        attempts: step.attempt,
        started_at: Some(now),
        ended_at: None,
        message: String::new(),
    }
}
