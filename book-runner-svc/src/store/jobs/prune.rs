//! Retention: deleting finished jobs, with their steps, events and logs, by age and by count per
//! deployment, in bounded batches.
//!
//! What is never deleted, whatever the rules:
//! - a job that is queued or running;
//! - a job whose outcome deployment-svc has not acknowledged (`report_state` other than
//!   `acknowledged`): the reporter still has to send it;
//! - the newest finished job of each deployment (newest by id, as ListJobs orders them: ids grow
//!   with time). It is the job the deployment's latest operation ended with, the only one
//!   `RetryJob` accepts (deployment-svc refuses every other with `RETRY_NOT_LATEST`), which the
//!   gateway reads (`GetJob`) before asking for the retry and the runner reads again to resume
//!   at its failed step; and the job the reconciler may still ask about (`GetJobOutcomes`) while
//!   its operation waits for the start of the job to be recorded. So the age rule spares it,
//!   and the count rule keeps at least one.
//!
//! Every batch is one transaction that deletes at most `batch_size` jobs and all their rows.
//! The rules only ever give up more jobs as time passes (a finished, acknowledged job stays so;
//! newer jobs only push a job further from the newest), so passes that overlap, in one replica
//! or several, delete nothing twice and nothing they should not. On PostgreSQL each batch also
//! takes a transaction-scoped advisory try-lock, per schema: while one replica deletes, another
//! that finds the lock taken ends its pass at once rather than contend for the same rows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait as _, DbBackend, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement, prelude::Expr,
};

use super::{SeaJobStore, reports::ACKNOWLEDGED};
use crate::{
    domain::{error::StoreError, job::JobStatus},
    store::entity::{job, job_event, job_step, step_log},
};

/// What a retention pass may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished jobs that ended longer ago than this go; `None`: no age rule.
    pub max_age: Option<Duration>,
    /// Finished jobs kept per deployment, the newest; older ones go. `None`: no count rule.
    /// `Some(0)` keeps one, as every rule does (the newest finished job of a deployment stays).
    pub keep_per_deployment: Option<u32>,
    /// Jobs deleted per transaction (at least 1).
    pub batch_size: u64,
}

impl Retention {
    /// Whether no rule is set: a pass deletes nothing.
    pub fn is_disabled(&self) -> bool {
        self.max_age.is_none() && self.keep_per_deployment.is_none()
    }
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Jobs deleted because they ended too long ago.
    pub by_age: u64,
    /// Jobs deleted because newer finished jobs of their deployment filled the count.
    pub by_count: u64,
    /// The pass stopped early because another replica was deleting (PostgreSQL).
    pub contended: bool,
}

impl Pruned {
    /// Jobs deleted.
    pub fn jobs(&self) -> u64 {
        self.by_age + self.by_count
    }
}

/// Key of the advisory lock, qualified by the schema the tables are in.
const LOCK_KEY: &str = ".book_runner_svc.retention";

/// The condition "the job has ended", with the statuses as constants so that it matches the
/// partial index of finished jobs (a bound parameter would hide it from the planner).
fn finished(table: &str) -> String {
    format!(
        "\"{table}\".\"status\" IN ('{}', '{}', '{}')",
        JobStatus::Succeeded.as_str(),
        JobStatus::Failed.as_str(),
        JobStatus::Cancelled.as_str()
    )
}

/// Finished, and its outcome acknowledged by deployment-svc: what either rule may delete.
fn deletable() -> Expr {
    Expr::cust(format!(
        "{} AND \"jobs\".\"report_state\" = '{ACKNOWLEDGED}'",
        finished("jobs")
    ))
}

/// A newer finished job of the same deployment exists: the job is not its newest.
fn not_the_newest() -> Expr {
    Expr::cust(format!(
        "EXISTS (SELECT 1 FROM \"jobs\" AS \"newer\" WHERE \"newer\".\"deployment\" = \"jobs\".\"deployment\" AND {} AND \"newer\".\"id\" > \"jobs\".\"id\")",
        finished("newer")
    ))
}

impl SeaJobStore {
    /// One retention pass at `now`: deletes the finished jobs `rules` give up, with their
    /// steps, events and logs, `rules.batch_size` jobs per transaction, until none is left.
    /// Never a queued or running job, one whose outcome deployment-svc has not acknowledged,
    /// or the newest finished job of a deployment (see the module's documentation).
    pub async fn prune(&self, rules: &Retention, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        let batch = rules.batch_size.max(1);
        if let Some(max_age) = rules.max_age {
            let age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
            let before = now
                .checked_sub_signed(age)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            self.prune_by_age(before, batch, &mut pruned).await?;
        }
        if let Some(keep) = rules.keep_per_deployment
            && !pruned.contended
        {
            self.prune_by_count(keep.max(1), batch, &mut pruned).await?;
        }
        Ok(pruned)
    }

    /// Deletes deletable jobs that ended before `before`, oldest first, except the newest of
    /// each deployment.
    async fn prune_by_age(
        &self,
        before: DateTime<Utc>,
        batch: u64,
        pruned: &mut Pruned,
    ) -> Result<(), StoreError> {
        // Where the last batch ended (ended_at, id): the next one reads on from there, so the
        // jobs it passed over (the newest of their deployments) are not read again.
        let mut after: Option<(DateTime<Utc>, String)> = None;
        loop {
            let mut select = job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .column(job::Column::EndedAt)
                .filter(deletable())
                .filter(job::Column::EndedAt.lt(before))
                .filter(not_the_newest());
            if let Some((ended, id)) = &after {
                select = select.filter(job::Column::EndedAt.gte(*ended)).filter(
                    Condition::any()
                        .add(job::Column::EndedAt.gt(*ended))
                        .add(job::Column::Id.gt(id.clone())),
                );
            }
            let rows: Vec<(String, Option<DateTime<Utc>>)> = select
                .order_by_asc(job::Column::EndedAt)
                .order_by_asc(job::Column::Id)
                .limit(batch)
                .into_tuple()
                .all(self.connection())
                .await?;
            let full = rows.len() as u64 >= batch;
            let Some((last_id, last_ended)) = rows.last().cloned() else {
                return Ok(());
            };
            let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
            match self.delete_jobs(&ids).await? {
                Some(deleted) => pruned.by_age += deleted,
                None => {
                    pruned.contended = true;
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
            after = last_ended.map(|ended| (ended, last_id));
        }
    }

    /// Deletes the deletable jobs of each deployment beyond its `keep` newest finished ones.
    async fn prune_by_count(
        &self,
        keep: u32,
        batch: u64,
        pruned: &mut Pruned,
    ) -> Result<(), StoreError> {
        let batch_len = usize::try_from(batch).unwrap_or(usize::MAX);
        // Jobs found to delete, deleted a batch at a time across deployments.
        let mut doomed: Vec<String> = Vec::new();
        // Deployments with more than `keep` finished jobs: one walk of the finished jobs per
        // pass (a page at a time would walk them again for every page).
        let deployments: Vec<String> = job::Entity::find()
            .select_only()
            .column(job::Column::Deployment)
            .filter(Expr::cust(finished("jobs")))
            .group_by(job::Column::Deployment)
            .having(Expr::cust(format!("COUNT(*) > {keep}")))
            .into_tuple()
            .all(self.connection())
            .await?;
        for deployment in &deployments {
            // The oldest finished job kept: the `keep`-th newest.
            let oldest_kept: Option<String> = job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .filter(job::Column::Deployment.eq(deployment.clone()))
                .filter(Expr::cust(finished("jobs")))
                .order_by_desc(job::Column::Id)
                .offset(u64::from(keep - 1))
                .limit(1)
                .into_tuple()
                .one(self.connection())
                .await?;
            let Some(oldest_kept) = oldest_kept else {
                continue;
            };
            let mut after_id: Option<String> = None;
            loop {
                let mut older = job::Entity::find()
                    .select_only()
                    .column(job::Column::Id)
                    .filter(job::Column::Deployment.eq(deployment.clone()))
                    .filter(deletable())
                    .filter(job::Column::Id.lt(oldest_kept.clone()));
                if let Some(after) = &after_id {
                    older = older.filter(job::Column::Id.gt(after.clone()));
                }
                let ids: Vec<String> = older
                    .order_by_asc(job::Column::Id)
                    .limit(batch)
                    .into_tuple()
                    .all(self.connection())
                    .await?;
                let full = ids.len() >= batch_len;
                after_id = ids.last().cloned();
                doomed.extend(ids);
                while doomed.len() >= batch_len {
                    let rest = doomed.split_off(batch_len);
                    if !self.delete_counted(&doomed, pruned).await? {
                        return Ok(());
                    }
                    doomed = rest;
                }
                if !full {
                    break;
                }
            }
        }
        if !doomed.is_empty() {
            self.delete_counted(&doomed, pruned).await?;
        }
        Ok(())
    }

    /// Deletes `ids` for the count rule; `false` when another replica holds the lock.
    async fn delete_counted(
        &self,
        ids: &[String],
        pruned: &mut Pruned,
    ) -> Result<bool, StoreError> {
        match self.delete_jobs(ids).await? {
            Some(deleted) => {
                pruned.by_count += deleted;
                Ok(true)
            }
            None => {
                pruned.contended = true;
                Ok(false)
            }
        }
    }

    /// Deletes the jobs among `ids` that are still deletable, with their steps, events and
    /// logs, in one transaction: how many, or `None` if another replica is deleting
    /// (PostgreSQL's advisory lock is taken).
    async fn delete_jobs(&self, ids: &[String]) -> Result<Option<u64>, StoreError> {
        let txn = begin_write(self.connection()).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || $1)) AS locked",
                    [LOCK_KEY.into()],
                ))
                .await?;
            let locked: bool = match row {
                Some(row) => row.try_get("", "locked")?,
                None => false,
            };
            if !locked {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        // Checked again in the transaction: only a finished, acknowledged job loses its rows.
        let ids: Vec<String> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::Id.is_in(ids.iter().cloned()))
            .filter(deletable())
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Some(0));
        }
        // Children first: the job row goes last, whatever the foreign keys do.
        step_log::Entity::delete_many()
            .filter(step_log::Column::JobId.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
        job_event::Entity::delete_many()
            .filter(job_event::Column::JobId.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
        job_step::Entity::delete_many()
            .filter(job_step::Column::JobId.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
        let deleted = job::Entity::delete_many()
            .filter(job::Column::Id.is_in(ids))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(Some(deleted))
    }
}
