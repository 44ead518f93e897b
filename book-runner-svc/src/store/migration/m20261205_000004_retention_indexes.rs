//! Indexes that keep retention cheap however many finished jobs there are
//! (`store/jobs/prune.rs`).
//!
//! - `jobs_finished_by_deployment_idx` (deployment, id) over finished jobs: whether a finished
//!   job is its deployment's newest, each deployment's count of finished jobs and its `keep`-th
//!   newest, all read from the index alone.
//! - `jobs_prunable_by_end_idx` (ended_at, id) over jobs whose outcome was acknowledged: the age
//!   rule reads the oldest first and stops at the cut-off, whatever the number of newer jobs.
//!
//! Both are partial, with the statuses written as constants, as the queries write them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Statuses of the jobs that ended.
const FINISHED: [&str; 3] = ["succeeded", "failed", "cancelled"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(FINISHED_BY_DEPLOYMENT)
                    .table(Jobs::Table)
                    .col(Jobs::Deployment)
                    .col(Jobs::Id)
                    .and_where(Expr::col(Jobs::Status).is_in(FINISHED))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PRUNABLE_BY_END)
                    .table(Jobs::Table)
                    .col(Jobs::EndedAt)
                    .col(Jobs::Id)
                    .and_where(Expr::col(Jobs::ReportState).eq("acknowledged"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [FINISHED_BY_DEPLOYMENT, PRUNABLE_BY_END] {
            manager
                .drop_index(Index::drop().name(name).table(Jobs::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}

const FINISHED_BY_DEPLOYMENT: &str = "jobs_finished_by_deployment_idx";
const PRUNABLE_BY_END: &str = "jobs_prunable_by_end_idx";

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Deployment,
    Status,
    EndedAt,
    ReportState,
}
