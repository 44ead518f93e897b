//! The request id a token was created with, so that a retried CreateToken finds its token.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Unique among the tokens that have one (NULLs never collide, in SQLite as in PostgreSQL).
const INDEX: &str = "api_tokens_request_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(ColumnDef::new(ApiTokens::RequestId).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ApiTokens::Table)
                    .col(ApiTokens::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(ApiTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .drop_column(ApiTokens::RequestId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    RequestId,
}
