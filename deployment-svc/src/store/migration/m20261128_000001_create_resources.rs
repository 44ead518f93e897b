//! Projects, scopes, clusters, deployment groups, deployments, and the request ids of creates
//! and updates.
//!
//! References between rows are resource names (`projects/acme/scopes/dev`), the same strings the
//! API shows, so a row reads without joins. Lists are ordered by name within a parent, hence the
//! `(parent, name)` indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(projects()).await?;
        manager.create_table(scopes()).await?;
        manager.create_table(clusters()).await?;
        manager.create_table(groups()).await?;
        manager.create_table(deployments()).await?;
        manager.create_table(request_ids()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RequestIds::Table.into_iden(),
            Deployments::Table.into_iden(),
            Groups::Table.into_iden(),
            Clusters::Table.into_iden(),
            Scopes::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn text(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).text().not_null().to_owned()
}

fn time(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn projects() -> TableCreateStatement {
    Table::create()
        .table(Projects::Table)
        .col(text(Projects::Name).primary_key())
        .col(text(Projects::Slug))
        .col(text(Projects::DisplayName))
        .col(time(Projects::CreateTime))
        .to_owned()
}

fn scopes() -> TableCreateStatement {
    Table::create()
        .table(Scopes::Table)
        .col(text(Scopes::Name).primary_key())
        .col(text(Scopes::Project))
        .col(text(Scopes::Slug))
        .col(text(Scopes::DisplayName))
        .col(ColumnDef::new(Scopes::AllowDrop).boolean().not_null())
        .col(time(Scopes::CreateTime))
        .to_owned()
}

fn clusters() -> TableCreateStatement {
    Table::create()
        .table(Clusters::Table)
        .col(text(Clusters::Name).primary_key())
        .col(text(Clusters::Project))
        .col(text(Clusters::Slug))
        .col(text(Clusters::DisplayName))
        // `kubernetes` or `directory`; the columns of the other driver stay empty.
        .col(text(Clusters::Driver))
        .col(text(Clusters::KubeconfigPath))
        .col(text(Clusters::KubeContext))
        .col(ColumnDef::new(Clusters::InCluster).boolean().not_null())
        .col(text(Clusters::DirectoryPath))
        .col(time(Clusters::CreateTime))
        .to_owned()
}

fn groups() -> TableCreateStatement {
    Table::create()
        .table(Groups::Table)
        .col(text(Groups::Name).primary_key())
        .col(text(Groups::Project))
        .col(text(Groups::Slug))
        .col(text(Groups::DisplayName))
        .col(text(Groups::DeploymentType))
        .col(text(Groups::InitializeBook))
        .col(text(Groups::DeployBook))
        .col(text(Groups::PauseBook))
        .col(text(Groups::DropBook))
        // Bumped by every update; the etag is made of it.
        .col(ColumnDef::new(Groups::Revision).big_integer().not_null())
        .col(time(Groups::CreateTime))
        .col(time(Groups::UpdateTime))
        .to_owned()
}

fn deployments() -> TableCreateStatement {
    Table::create()
        .table(Deployments::Table)
        .col(text(Deployments::Name).primary_key())
        .col(text(Deployments::Project))
        .col(text(Deployments::DeploymentGroup))
        .col(text(Deployments::Slug))
        .col(text(Deployments::DisplayName))
        // Copied from the group, whose type never changes.
        .col(text(Deployments::DeploymentType))
        .col(text(Deployments::Scope))
        // JSON array of cluster names, in the deployment's order.
        .col(text(Deployments::Clusters))
        .col(text(Deployments::Repository))
        .col(text(Deployments::Branch))
        .col(text(Deployments::Image))
        .col(text(Deployments::CommitRef))
        // JSON object of string parameters.
        .col(text(Deployments::Parameters))
        // draft, initialize, deploy, pause or dropped.
        .col(text(Deployments::State))
        .col(text(Deployments::Namespace))
        // Bumped by every change of a stored field; the etag is made of it.
        .col(
            ColumnDef::new(Deployments::Revision)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Deployments::CurrentVersion)
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(ColumnDef::new(Deployments::LastOperation).text().null())
        .col(
            ColumnDef::new(Deployments::RunningJobCount)
                .integer()
                .not_null()
                .default(0),
        )
        .col(time(Deployments::CreateTime))
        .col(time(Deployments::UpdateTime))
        .to_owned()
}

fn request_ids() -> TableCreateStatement {
    Table::create()
        .table(RequestIds::Table)
        // The RPC, e.g. `CreateDeployment`: ids are scoped to the call they were sent with.
        .col(text(RequestIds::Method))
        .col(text(RequestIds::RequestId))
        // The resource the first call created or changed.
        .col(text(RequestIds::Resource))
        .col(time(RequestIds::CreateTime))
        .primary_key(
            Index::create()
                .col(RequestIds::Method)
                .col(RequestIds::RequestId),
        )
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    let by_parent = |name: &str, table: DynIden, parent: DynIden, order: DynIden| {
        Index::create()
            .name(name)
            .table(table)
            .col(parent)
            .col(order)
            .to_owned()
    };
    vec![
        by_parent(
            "scopes_project_idx",
            Scopes::Table.into_iden(),
            Scopes::Project.into_iden(),
            Scopes::Name.into_iden(),
        ),
        by_parent(
            "clusters_project_idx",
            Clusters::Table.into_iden(),
            Clusters::Project.into_iden(),
            Clusters::Name.into_iden(),
        ),
        by_parent(
            "deployment_groups_project_idx",
            Groups::Table.into_iden(),
            Groups::Project.into_iden(),
            Groups::Name.into_iden(),
        ),
        by_parent(
            "deployments_group_idx",
            Deployments::Table.into_iden(),
            Deployments::DeploymentGroup.into_iden(),
            Deployments::Name.into_iden(),
        ),
        // Lists filtered by state, and the lifecycle's scans of deployments in a state.
        by_parent(
            "deployments_group_state_idx",
            Deployments::Table.into_iden(),
            Deployments::DeploymentGroup.into_iden(),
            Deployments::State.into_iden(),
        ),
        Index::create()
            .name("deployments_scope_idx")
            .table(Deployments::Table)
            .col(Deployments::Scope)
            .to_owned(),
        // Two deployments never share a namespace: one's Drop would delete the other's objects.
        Index::create()
            .name("deployments_namespace_key")
            .table(Deployments::Table)
            .col(Deployments::Namespace)
            .unique()
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Name,
    Slug,
    DisplayName,
    CreateTime,
}

#[derive(DeriveIden)]
enum Scopes {
    Table,
    Name,
    Project,
    Slug,
    DisplayName,
    AllowDrop,
    CreateTime,
}

#[derive(DeriveIden)]
enum Clusters {
    Table,
    Name,
    Project,
    Slug,
    DisplayName,
    Driver,
    KubeconfigPath,
    KubeContext,
    InCluster,
    DirectoryPath,
    CreateTime,
}

#[derive(DeriveIden)]
enum Groups {
    #[sea_orm(iden = "deployment_groups")]
    Table,
    Name,
    Project,
    Slug,
    DisplayName,
    DeploymentType,
    InitializeBook,
    DeployBook,
    PauseBook,
    DropBook,
    Revision,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Name,
    Project,
    DeploymentGroup,
    Slug,
    DisplayName,
    DeploymentType,
    Scope,
    Clusters,
    Repository,
    Branch,
    Image,
    CommitRef,
    Parameters,
    State,
    Namespace,
    Revision,
    CurrentVersion,
    LastOperation,
    RunningJobCount,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    Method,
    RequestId,
    Resource,
    CreateTime,
}
