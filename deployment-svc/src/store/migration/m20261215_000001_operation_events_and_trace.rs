//! Operations keep the events their lifecycle did not expect (issue 19): a JSON list of
//! descriptions, empty for every operation so far; and the trace of the call that asked for
//! them, which their jobs, started later, continue.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Operations::Table)
                    .add_column(
                        ColumnDef::new(Operations::UnexpectedEvents)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Operations::Table)
                    .add_column(ColumnDef::new(Operations::TraceParent).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Operations::Table)
                    .drop_column(Operations::TraceParent)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Operations::Table)
                    .drop_column(Operations::UnexpectedEvents)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Operations {
    Table,
    UnexpectedEvents,
    TraceParent,
}
