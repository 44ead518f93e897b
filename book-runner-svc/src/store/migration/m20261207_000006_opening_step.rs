//! `jobs.opening_step`: the step a job's first claim starts by itself, decided when the job is
//! created (the first step to run, unless it has a condition), or null. On PostgreSQL the claim
//! of a job never claimed before then starts that step in the claiming statement itself, one
//! round trip from a worker's wake-up to a running step (`store/jobs/claim_pg.rs`). Jobs
//! created before this column have it null and are claimed in two statements, as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(ColumnDef::new(Jobs::OpeningStep).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::OpeningStep)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    OpeningStep,
}
