//! The outbox of version records owed to version-svc, and operations.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VersionOutbox::Table)
                    .col(
                        ColumnDef::new(VersionOutbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(VersionOutbox::Deployment).text().not_null())
                    .col(
                        ColumnDef::new(VersionOutbox::Revision)
                            .big_integer()
                            .not_null(),
                    )
                    // The RecordVersionRequest as JSON: delivered as written, however late.
                    .col(ColumnDef::new(VersionOutbox::Payload).text().not_null())
                    .col(
                        ColumnDef::new(VersionOutbox::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VersionOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(VersionOutbox::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The relay delivers per deployment in revision order.
        manager
            .create_index(
                Index::create()
                    .name("version_outbox_order_idx")
                    .table(VersionOutbox::Table)
                    .col(VersionOutbox::Deployment)
                    .col(VersionOutbox::Revision)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VersionOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum VersionOutbox {
    Table,
    Id,
    Deployment,
    Revision,
    Payload,
    CreatedAt,
    Attempts,
    NextAttemptAt,
}
