//! Deployments are found by project: a job's snapshot lists the namespaces of its project's
//! other deployments (where its books may read), and that must stay one index lookup however
//! many deployments other projects have. The index holds the namespace too, so the list is
//! read in order from it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "deployments_project_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Deployments::Table)
                    .col(Deployments::Project)
                    .col(Deployments::Namespace)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Deployments::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Project,
    Namespace,
}
