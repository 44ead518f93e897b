//! Indexes of the jobs still queued or running, which stay few while finished jobs pile up.
//!
//! A worker's claim walks jobs in id order looking for a queued one (or one whose lease
//! expired); with only the older indexes, a planner whose statistics lag behind may walk every
//! finished job first. Counting a deployment's active jobs had the same problem.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Statuses of the jobs that are not over.
const ACTIVE: [&str; 2] = ["queued", "running"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in [
            (CLAIMABLE, Jobs::Id),
            (ACTIVE_BY_DEPLOYMENT, Jobs::Deployment),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Jobs::Table)
                        .col(column)
                        .and_where(Expr::col(Jobs::Status).is_in(ACTIVE))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [CLAIMABLE, ACTIVE_BY_DEPLOYMENT] {
            manager
                .drop_index(Index::drop().name(name).table(Jobs::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}

const CLAIMABLE: &str = "jobs_claimable_idx";
const ACTIVE_BY_DEPLOYMENT: &str = "jobs_active_by_deployment_idx";

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Deployment,
    Status,
}
