//! Deployment versions, and one head row per deployment that serialises numbering.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VersionHeads::Table)
                    .col(
                        ColumnDef::new(VersionHeads::Deployment)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(VersionHeads::LatestNumber)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VersionHeads::LatestRevision)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Versions::Table)
                    .col(ColumnDef::new(Versions::Deployment).text().not_null())
                    .col(ColumnDef::new(Versions::Number).big_integer().not_null())
                    .col(ColumnDef::new(Versions::Revision).big_integer().not_null())
                    .col(ColumnDef::new(Versions::KeyFields).text().not_null())
                    .col(ColumnDef::new(Versions::ChangedFields).text().not_null())
                    .col(ColumnDef::new(Versions::Actor).text().not_null())
                    .col(ColumnDef::new(Versions::Reason).text().not_null())
                    .col(
                        ColumnDef::new(Versions::RollbackToVersion)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Versions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Numbers are dense and unique per deployment: the database enforces it.
                    .primary_key(
                        Index::create()
                            .col(Versions::Deployment)
                            .col(Versions::Number),
                    )
                    .to_owned(),
            )
            .await?;
        // A revision of a deployment yields at most one version: retries find it again.
        manager
            .create_index(
                Index::create()
                    .name("deployment_versions_revision_key")
                    .table(Versions::Table)
                    .col(Versions::Deployment)
                    .col(Versions::Revision)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Versions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(VersionHeads::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum VersionHeads {
    #[sea_orm(iden = "deployment_version_heads")]
    Table,
    Deployment,
    LatestNumber,
    LatestRevision,
}

#[derive(DeriveIden)]
enum Versions {
    #[sea_orm(iden = "deployment_versions")]
    Table,
    Deployment,
    Number,
    Revision,
    KeyFields,
    ChangedFields,
    Actor,
    Reason,
    RollbackToVersion,
    CreatedAt,
}
