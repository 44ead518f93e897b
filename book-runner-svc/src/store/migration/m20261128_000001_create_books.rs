//! Deployment Books.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Books::Table)
                    // Resource name: `books/{id}` or `projects/{project}/books/{id}`.
                    .col(ColumnDef::new(Books::Name).text().not_null().primary_key())
                    // Project slug; empty for global books.
                    .col(ColumnDef::new(Books::Project).text().not_null())
                    .col(ColumnDef::new(Books::DeploymentType).text().not_null())
                    .col(ColumnDef::new(Books::Builtin).boolean().not_null())
                    // The book as JSON (BookSpec).
                    .col(ColumnDef::new(Books::Spec).text().not_null())
                    // Bumped by every update; the etag clients send back.
                    .col(ColumnDef::new(Books::Revision).big_integer().not_null())
                    .col(
                        ColumnDef::new(Books::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Books::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("books_project_idx")
                    .table(Books::Table)
                    .col(Books::Project)
                    .col(Books::Name)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Books::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Books {
    Table,
    Name,
    Project,
    DeploymentType,
    Builtin,
    Spec,
    Revision,
    CreatedAt,
    UpdatedAt,
}
