//! The outbox of job outcomes owed to deployment-svc: written in the transaction that ends a
//! job, delivered (and retried) by the reporter until acknowledged, across restarts.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    prelude::Expr, sea_query::ExprTrait as _,
};

use super::SeaJobStore;
use crate::{
    domain::{error::StoreError, job::Job},
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
    ) -> Result<Vec<Job>, StoreError> {
        let rows = job::Entity::find()
            .filter(job::Column::ReportState.eq(PENDING))
            .filter(job::Column::NextReportAt.lte(now))
            .order_by_asc(job::Column::NextReportAt)
            .limit(limit)
            .all(self.connection())
            .await?;
        self.with_steps_of_all(rows).await
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
