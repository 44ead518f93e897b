//! API tokens (only their hashes) and the roles they hold per project.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(
                        ColumnDef::new(ApiTokens::Id)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::DisplayName).text().not_null())
                    // SHA-256 of the token: a leaked table grants nothing.
                    .col(
                        ColumnDef::new(ApiTokens::TokenHash)
                            .text()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::GlobalAdmin).boolean().not_null())
                    .col(
                        ColumnDef::new(ApiTokens::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiTokens::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ApiTokens::LastUsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoleBindings::Table)
                    .col(ColumnDef::new(RoleBindings::TokenId).text().not_null())
                    .col(ColumnDef::new(RoleBindings::Project).text().not_null())
                    .col(ColumnDef::new(RoleBindings::Role).text().not_null())
                    .primary_key(
                        Index::create()
                            .col(RoleBindings::TokenId)
                            .col(RoleBindings::Project),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoleBindings::Table, RoleBindings::TokenId)
                            .to(ApiTokens::Table, ApiTokens::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RoleBindings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    DisplayName,
    TokenHash,
    GlobalAdmin,
    CreatedAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum RoleBindings {
    Table,
    TokenId,
    Project,
    Role,
}
