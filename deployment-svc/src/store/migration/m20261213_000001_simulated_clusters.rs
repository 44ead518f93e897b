//! Directory clusters can be simulated (issue 17): the runner plays the Kubernetes controllers on
//! their files. Existing clusters are not.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clusters::Table)
                    .add_column(
                        ColumnDef::new(Clusters::Simulated)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clusters::Table)
                    .drop_column(Clusters::Simulated)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Simulated,
}
