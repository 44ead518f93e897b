//! deployment-svc numbers the versions it queues (issue 19): each record says its number; the
//! records queued before carry 0, and version-svc numbers those.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(VersionOutbox::Table)
                    .add_column(
                        ColumnDef::new(VersionOutbox::Number)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(VersionOutbox::Table)
                    .drop_column(VersionOutbox::Number)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum VersionOutbox {
    Table,
    Number,
}
