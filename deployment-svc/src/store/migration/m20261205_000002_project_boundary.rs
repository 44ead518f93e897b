//! Projects gain a boundary (issue 15, parts 2 and 7): the namespaces and cluster-scoped kinds
//! their books may touch besides each deployment's own namespace, and the hosts their
//! `http.check` steps may reach although the runner refuses them by default, as JSON lists;
//! and a revision for UpdateProject's etag. Existing projects get empty lists: their books keep
//! to their own namespaces.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite adds a single column per ALTER TABLE.
        for column in [
            ColumnDef::new(Projects::BoundaryNamespaces)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
            ColumnDef::new(Projects::BoundaryClusterKinds)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
            ColumnDef::new(Projects::BoundaryHosts)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
            ColumnDef::new(Projects::Revision)
                .big_integer()
                .not_null()
                .default(1)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Projects::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Projects::Revision,
            Projects::BoundaryHosts,
            Projects::BoundaryClusterKinds,
            Projects::BoundaryNamespaces,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Projects::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    BoundaryNamespaces,
    BoundaryClusterKinds,
    BoundaryHosts,
    Revision,
}
