//! Operations: every lifecycle action, who asked, its jobs and outcome.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Operations::Table)
                    .col(
                        ColumnDef::new(Operations::Name)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Operations::Deployment).text().not_null())
                    .col(ColumnDef::new(Operations::Action).text().not_null())
                    .col(ColumnDef::new(Operations::Status).text().not_null())
                    .col(ColumnDef::new(Operations::Actor).text().not_null())
                    // NULL when the caller sent none: unique only among those that have one.
                    .col(
                        ColumnDef::new(Operations::RequestId)
                            .text()
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Operations::Phases).text().not_null())
                    .col(ColumnDef::new(Operations::PhaseIndex).integer().not_null())
                    .col(ColumnDef::new(Operations::Jobs).text().not_null())
                    .col(ColumnDef::new(Operations::Message).text().not_null())
                    // A retry: the operation retried, and the failed job to resume from (if asked).
                    .col(ColumnDef::new(Operations::RetryOf).text().null())
                    .col(ColumnDef::new(Operations::ResumeJob).text().null())
                    .col(
                        ColumnDef::new(Operations::RollbackToVersion)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Operations::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Operations::EndTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("operations_deployment_idx")
                    .table(Operations::Table)
                    .col(Operations::Deployment)
                    .col(Operations::CreateTime)
                    .to_owned(),
            )
            .await?;
        // One operation at a time per deployment, enforced by the database: of two replicas
        // racing to start one, exactly one insert succeeds. (Partial unique indexes exist in
        // both SQLite and PostgreSQL with this syntax.)
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX operations_one_running ON operations (deployment) WHERE status = 'running'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Operations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Operations {
    Table,
    Name,
    Deployment,
    Action,
    Status,
    Actor,
    RequestId,
    Phases,
    PhaseIndex,
    Jobs,
    Message,
    RollbackToVersion,
    RetryOf,
    ResumeJob,
    CreateTime,
    EndTime,
}
