//! A worker's fenced writes: a job's events, step states, log lines and end, each batch in one
//! transaction of few statements (a job's cost is mostly its round trips to the database).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, DatabaseTransaction, DbBackend, DbErr, EntityTrait as _,
    QueryFilter as _, QuerySelect as _, prelude::Expr, sea_query::ExprTrait as _,
};

use super::{
    MAX_LOG_LINES_PER_STEP, SeaJobStore,
    lease::{Lease, WriteError},
    reports,
    rows::{event_row, stored_event},
};
use crate::{
    domain::job::{EventKind, JobEvent, JobStatus, StepStatus},
    store::entity::{job, job_event, job_step, step_log},
};

/// Rows per INSERT: well under PostgreSQL's 65535 bind parameters.
const ROWS_PER_INSERT: usize = 1000;

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

impl SeaJobStore {
    /// Applies `entries` atomically under `lease`, numbering events after the job's last one.
    /// Returns the events stored (log lines beyond the step's limit are dropped).
    pub async fn record(
        &self,
        lease: &Lease,
        entries: Vec<Entry>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobEvent>, WriteError> {
        if self.connection().get_database_backend() == DbBackend::Postgres
            && let Some(stored) =
                super::record_pg::record(self.connection(), lease, &entries, now).await?
        {
            return Ok(stored);
        }
        self.record_in_one_transaction(lease, entries, now).await
    }

    /// [`SeaJobStore::record`] as one transaction: on SQLite, and on PostgreSQL when the
    /// one-statement record was refused (a lost lease, or a step's log filling up).
    async fn record_in_one_transaction(
        &self,
        lease: &Lease,
        entries: Vec<Entry>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobEvent>, WriteError> {
        let txn = begin_write(self.connection()).await?;
        // Every event and log line takes a sequence number in the fencing statement; numbers
        // of lines dropped from a full log are given back at the end.
        let taken = entries
            .iter()
            .filter(|entry| matches!(entry, Entry::Event(_) | Entry::Log { .. }))
            .count();
        let taken = i64::try_from(taken).unwrap_or(i64::MAX);
        let finish = entries.iter().find_map(|entry| match entry {
            Entry::Finish { status, message } => Some((*status, message.as_str())),
            _ => None,
        });
        let Some(last) = fence(&txn, lease, taken, finish, now).await? else {
            return Err(WriteError::Fenced);
        };
        let mut sequence = last - taken;
        let mut room = reserve_log_lines(&txn, &lease.job_id, &entries).await?;

        let mut events = Vec::new();
        let mut lines = Vec::new();
        let mut stored = Vec::new();
        for entry in entries {
            let kind = match entry {
                Entry::Event(kind) => kind,
                Entry::Step {
                    index,
                    status,
                    attempts,
                    started_at,
                    ended_at,
                    message,
                } => {
                    let change = StepChange {
                        status,
                        attempts,
                        started_at,
                        ended_at,
                        message,
                    };
                    update_step(&txn, &lease.job_id, index, change).await?;
                    continue;
                }
                Entry::Log {
                    step_index,
                    attempt,
                    line,
                } => {
                    let Some(number) = room.get_mut(&step_index).and_then(LogRoom::take) else {
                        continue;
                    };
                    lines.push(log_row(
                        &lease.job_id,
                        (step_index, number),
                        attempt,
                        &line,
                        now,
                    ));
                    EventKind::StepLog {
                        step_index,
                        attempt,
                        line,
                    }
                }
                Entry::Finish { .. } => continue,
            };
            sequence += 1;
            events.push(event_row(&lease.job_id, sequence, now, &kind));
            stored.push(stored_event(&lease.job_id, sequence, now, kind));
        }
        insert_in_chunks::<step_log::Entity, _>(&txn, lines).await?;
        insert_in_chunks::<job_event::Entity, _>(&txn, events).await?;
        if sequence < last {
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

/// The fencing statement: refused (`None`) unless `lease` still holds the job. It takes `taken`
/// sequence numbers, applies the job's end if there is one, and locks the job row for the rest of
/// the transaction; it returns the job's new last sequence number.
async fn fence(
    txn: &DatabaseTransaction,
    lease: &Lease,
    taken: i64,
    finish: Option<(JobStatus, &str)>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DbErr> {
    let mut update = job::Entity::update_many().col_expr(
        job::Column::LastSequence,
        Expr::col(job::Column::LastSequence).add(taken),
    );
    if let Some((status, message)) = finish {
        update = update
            .col_expr(job::Column::Status, Expr::value(status.as_str()))
            .col_expr(job::Column::Message, Expr::value(message))
            .col_expr(job::Column::EndedAt, Expr::value(now))
            .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                job::Column::LeaseExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(job::Column::ReportState, Expr::value(reports::PENDING))
            .col_expr(job::Column::NextReportAt, Expr::value(now));
    }
    let fenced = update
        .filter(job::Column::Id.eq(lease.job_id.clone()))
        .filter(job::Column::LeaseEpoch.eq(lease.epoch))
        .exec_with_returning(txn)
        .await?;
    Ok(fenced.first().map(|row| row.last_sequence))
}

/// A step's new state, as [`Entry::Step`] gives it.
pub(super) struct StepChange {
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub message: String,
}

pub(super) async fn update_step(
    txn: &DatabaseTransaction,
    job_id: &str,
    index: usize,
    change: StepChange,
) -> Result<(), DbErr> {
    let mut update = job_step::Entity::update_many()
        .col_expr(
            job_step::Column::Status,
            Expr::value(change.status.as_str()),
        )
        .col_expr(
            job_step::Column::Attempts,
            Expr::value(i32::try_from(change.attempts).unwrap_or(i32::MAX)),
        )
        .col_expr(job_step::Column::EndedAt, Expr::value(change.ended_at))
        .col_expr(job_step::Column::Message, Expr::value(change.message));
    if let Some(started_at) = change.started_at {
        // The first attempt's start is the step's start; later attempts keep it.
        update = update.col_expr(
            job_step::Column::StartedAt,
            Expr::col(job_step::Column::StartedAt).if_null(started_at),
        );
    }
    update
        .filter(job_step::Column::JobId.eq(job_id))
        .filter(job_step::Column::StepIndex.eq(step_index(index)))
        .exec(txn)
        .await?;
    Ok(())
}

/// Line numbers a step's log has room for in one record.
struct LogRoom {
    next: i64,
    left: i64,
}

impl LogRoom {
    /// The next line's number, or `None` once the log is full.
    fn take(&mut self) -> Option<i64> {
        (self.left > 0).then(|| {
            self.left -= 1;
            self.next += 1;
            self.next - 1
        })
    }
}

/// Counts the log lines of `entries` into their steps' logs, up to each step's limit (marking a
/// log that overflows truncated): one statement per step in the common case.
async fn reserve_log_lines(
    txn: &DatabaseTransaction,
    job_id: &str,
    entries: &[Entry],
) -> Result<HashMap<usize, LogRoom>, DbErr> {
    let mut wanted: HashMap<usize, i64> = HashMap::new();
    for entry in entries {
        if let Entry::Log { step_index, .. } = entry {
            *wanted.entry(*step_index).or_default() += 1;
        }
    }
    let mut room = HashMap::with_capacity(wanted.len());
    for (index, count) in wanted {
        let step = job_step::Column::JobId
            .eq(job_id)
            .and(job_step::Column::StepIndex.eq(step_index(index)));
        let counted = job_step::Entity::update_many()
            .col_expr(
                job_step::Column::LogLines,
                Expr::col(job_step::Column::LogLines).add(count),
            )
            .filter(step.clone())
            .filter(job_step::Column::LogLines.lte(MAX_LOG_LINES_PER_STEP - count))
            .exec_with_returning(txn)
            .await?;
        if let Some(counted) = counted.first() {
            room.insert(
                index,
                LogRoom {
                    next: counted.log_lines - count + 1,
                    left: count,
                },
            );
            continue;
        }
        // The log fills up: keep what fits. The job row's lock keeps the count still meanwhile.
        let current: Option<i64> = job_step::Entity::find()
            .select_only()
            .column(job_step::Column::LogLines)
            .filter(step.clone())
            .into_tuple()
            .one(txn)
            .await?;
        let Some(current) = current else { continue };
        let fitting = (MAX_LOG_LINES_PER_STEP - current).clamp(0, count);
        job_step::Entity::update_many()
            .col_expr(job_step::Column::LogLines, Expr::value(current + fitting))
            .col_expr(job_step::Column::LogTruncated, Expr::value(true))
            .filter(step)
            .exec(txn)
            .await?;
        room.insert(
            index,
            LogRoom {
                next: current + 1,
                left: fitting,
            },
        );
    }
    Ok(room)
}

fn log_row(
    job_id: &str,
    (index, number): (usize, i64),
    attempt: u32,
    line: &str,
    now: DateTime<Utc>,
) -> step_log::ActiveModel {
    step_log::ActiveModel {
        job_id: Set(job_id.to_owned()),
        step_index: Set(step_index(index)),
        number: Set(number),
        attempt: Set(i32::try_from(attempt).unwrap_or(i32::MAX)),
        time: Set(now),
        text: Set(line.to_owned()),
    }
}

fn step_index(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// Inserts `rows` with as few statements as the bind-parameter limit allows.
pub(super) async fn insert_in_chunks<E, A>(
    txn: &DatabaseTransaction,
    mut rows: Vec<A>,
) -> Result<(), DbErr>
where
    E: sea_orm::EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E>,
{
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_INSERT));
        E::insert_many(rows).exec_without_returning(txn).await?;
        rows = rest;
    }
    Ok(())
}
