//! The outbox of job outcomes owed to deployment-svc: written in the transaction that ends a
//! job, delivered (and retried) by the reporter until acknowledged, across restarts.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, FromQueryResult, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select, prelude::Expr, sea_query::ExprTrait as _,
};

use super::{
    SeaJobStore,
    rows::{job_phase, job_status},
};
use crate::{
    domain::{error::StoreError, job::Outcome},
    store::entity::job,
};

/// No report owed (the job has not ended).
pub(super) const NONE: &str = "none";
/// The outcome must be reported.
pub(super) const PENDING: &str = "pending";
/// deployment-svc acknowledged the outcome.
pub(super) const ACKNOWLEDGED: &str = "acknowledged";

impl SeaJobStore {
    /// Ended jobs whose outcome is due for (another) delivery attempt, oldest first.
    pub async fn due_reports(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let rows = outcome_columns()
            .filter(job::Column::ReportState.eq(PENDING))
            .filter(job::Column::NextReportAt.lte(now))
            .order_by_asc(job::Column::NextReportAt)
            .limit(limit)
            .into_model::<OutcomeRow>()
            .all(self.connection())
            .await?;
        rows.into_iter().map(OutcomeRow::into_outcome).collect()
    }

    /// The outcomes of the jobs among `ids` that exist, in one query.
    pub async fn outcomes(&self, ids: &[String]) -> Result<Vec<Outcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(ids.len());
        for ids in ids.chunks(ROWS_PER_QUERY) {
            let rows = outcome_columns()
                .filter(job::Column::Id.is_in(ids.iter().cloned()))
                .into_model::<OutcomeRow>()
                .all(self.connection())
                .await?;
            for row in rows {
                outcomes.push(row.into_outcome()?);
            }
        }
        Ok(outcomes)
    }

    /// Records that deployment-svc acknowledged the outcomes of jobs `ids`.
    pub async fn reports_acknowledged(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        job::Entity::update_many()
            .col_expr(job::Column::ReportState, Expr::value(ACKNOWLEDGED))
            .filter(job::Column::Id.is_in(ids.iter().cloned()))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Records a failed delivery; the next attempt is due at `retry_at`.
    pub async fn report_failed(&self, id: &str, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        job::Entity::update_many()
            .col_expr(
                job::Column::ReportAttempts,
                Expr::col(job::Column::ReportAttempts).add(1),
            )
            .col_expr(job::Column::NextReportAt, Expr::value(retry_at))
            .filter(job::Column::Id.eq(id))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Delivery attempts made so far for job `id`'s outcome.
    pub async fn report_attempts(&self, id: &str) -> Result<i32, StoreError> {
        Ok(job::Entity::find_by_id(id.to_owned())
            .select_only()
            .column(job::Column::ReportAttempts)
            .into_tuple()
            .one(self.connection())
            .await?
            .unwrap_or(0))
    }
}

/// Ids per query: well under PostgreSQL's 65535 bind parameters.
const ROWS_PER_QUERY: usize = 1000;

/// An outcome's columns only: the job's book and snapshot are neither read nor parsed.
fn outcome_columns() -> Select<job::Entity> {
    job::Entity::find().select_only().columns([
        job::Column::Id,
        job::Column::Name,
        job::Column::Deployment,
        job::Column::Operation,
        job::Column::Phase,
        job::Column::Status,
        job::Column::Message,
        job::Column::EndedAt,
    ])
}

#[derive(FromQueryResult)]
struct OutcomeRow {
    id: String,
    name: String,
    deployment: String,
    operation: String,
    phase: String,
    status: String,
    message: String,
    ended_at: Option<DateTime<Utc>>,
}

impl OutcomeRow {
    fn into_outcome(self) -> Result<Outcome, StoreError> {
        Ok(Outcome {
            phase: job_phase(&self.id, &self.phase)?,
            status: job_status(&self.id, &self.status)?,
            id: self.id,
            name: self.name,
            deployment: self.deployment,
            operation: self.operation,
            message: self.message,
            ended_at: self.ended_at,
        })
    }
}
