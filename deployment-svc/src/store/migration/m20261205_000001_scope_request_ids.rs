//! Request ids are scoped to their parent (issue 15, part 5): until now one id was unique across
//! every project, so a tenant reusing another tenant's id was refused with a message naming the
//! other tenant's resource, or could not use the id at all.
//!
//! - `request_ids` gains `parent` in its key: the parent of the resource the request created or
//!   changed (the project of a scope, the group of a deployment; empty for a project, which only
//!   global admins create). Existing rows get the parent of their resource.
//! - `operations.request_id` is unique per deployment (the operation's parent) instead of
//!   globally.
//!
//! SQLite cannot drop a primary key or a column's UNIQUE constraint, so there both tables are
//! rebuilt (create, copy, drop, rename); PostgreSQL drops the constraint of `operations` in place.

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (sea-orm runs SQLite migrations without one by default):
    /// a rebuild stopped halfway must leave the old tables as they were, and every statement
    /// must see the ones before it on the same connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        scope_request_ids(manager).await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_operations(manager).await?,
            _ => {
                manager
                    .get_connection()
                    .execute_unprepared(
                        "ALTER TABLE operations DROP CONSTRAINT operations_request_id_key",
                    )
                    .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name(OPERATIONS_REQUEST_ID_IDX)
                    .table(Operations::Table)
                    .col(Operations::Deployment)
                    .col(Operations::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to global uniqueness: fails, and changes nothing, if two parents now share an id.
        manager
            .drop_index(
                Index::drop()
                    .name(OPERATIONS_REQUEST_ID_IDX)
                    .table(Operations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("operations_request_id_global_idx")
                    .table(Operations::Table)
                    .col(Operations::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        manager
            .create_table(request_ids_table(NEXT_REQUEST_IDS, false))
            .await?;
        conn.execute_unprepared(&format!(
            "INSERT INTO {NEXT_REQUEST_IDS} (method, request_id, resource, create_time) \
             SELECT method, request_id, resource, create_time FROM request_ids"
        ))
        .await?;
        replace_table(manager, "request_ids", NEXT_REQUEST_IDS).await
    }
}

const OPERATIONS_REQUEST_ID_IDX: &str = "operations_request_id_idx";
const NEXT_REQUEST_IDS: &str = "request_ids_next";
const NEXT_OPERATIONS: &str = "operations_next";

/// The parent a request id on `resource` is scoped to (the rule of
/// `store::resources::requests`, frozen here as this migration applied it).
fn parent_of(resource: &str) -> &str {
    // `projects/p` → ``; `projects/p/scopes/s` → `projects/p`; `.../groups/g/deployments/d` →
    // `.../groups/g`.
    resource.rsplitn(3, '/').nth(2).unwrap_or_default()
}

fn request_ids_table(name: &str, with_parent: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(Alias::new(name))
        .col(ColumnDef::new(RequestIds::Method).text().not_null());
    let mut key = Index::create();
    key.col(RequestIds::Method);
    if with_parent {
        table.col(ColumnDef::new(RequestIds::Parent).text().not_null());
        key.col(RequestIds::Parent);
    }
    key.col(RequestIds::RequestId);
    table
        .col(ColumnDef::new(RequestIds::RequestId).text().not_null())
        .col(ColumnDef::new(RequestIds::Resource).text().not_null())
        .col(
            ColumnDef::new(RequestIds::CreateTime)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(&mut key)
        .to_owned()
}

/// `request_ids` again, keyed by (method, parent, request id), its rows kept.
async fn scope_request_ids(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    manager
        .create_table(request_ids_table(NEXT_REQUEST_IDS, true))
        .await?;
    // Copied with an empty parent first (the old key makes (method, '', request id) unique),
    // then each row is given the parent its resource implies.
    conn.execute_unprepared(&format!(
        "INSERT INTO {NEXT_REQUEST_IDS} (method, parent, request_id, resource, create_time) \
         SELECT method, '', request_id, resource, create_time FROM request_ids"
    ))
    .await?;
    let rows = conn
        .query_all_raw(Statement::from_string(
            manager.get_database_backend(),
            "SELECT method, request_id, resource FROM request_ids",
        ))
        .await?;
    for row in rows {
        let method: String = row.try_get("", "method")?;
        let request_id: String = row.try_get("", "request_id")?;
        let resource: String = row.try_get("", "resource")?;
        let parent = parent_of(&resource).to_owned();
        if parent.is_empty() {
            continue;
        }
        let update = Query::update()
            .table(Alias::new(NEXT_REQUEST_IDS))
            .value(RequestIds::Parent, parent)
            .and_where(Expr::col(RequestIds::Method).eq(method))
            .and_where(Expr::col(RequestIds::RequestId).eq(request_id))
            .to_owned();
        manager.exec_stmt(update).await?;
    }
    replace_table(manager, "request_ids", NEXT_REQUEST_IDS).await
}

/// Drops `table` and gives its name to `next`.
async fn replace_table(manager: &SchemaManager<'_>, table: &str, next: &str) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(Alias::new(table)).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(next), Alias::new(table))
                .to_owned(),
        )
        .await
}

/// `operations` again, with the same columns and indexes but no UNIQUE on `request_id` (SQLite).
async fn rebuild_operations(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let text = |column: Operations| ColumnDef::new(column).text().not_null().to_owned();
    let nullable = |column: Operations| ColumnDef::new(column).text().null().to_owned();
    let time = |column: Operations| {
        ColumnDef::new(column)
            .timestamp_with_time_zone()
            .not_null()
            .to_owned()
    };
    manager
        .create_table(
            Table::create()
                .table(Alias::new(NEXT_OPERATIONS))
                .col(text(Operations::Name).primary_key())
                .col(text(Operations::Deployment))
                .col(text(Operations::Action))
                .col(text(Operations::Status))
                .col(text(Operations::Actor))
                .col(nullable(Operations::RequestId))
                .col(text(Operations::Phases))
                .col(ColumnDef::new(Operations::PhaseIndex).integer().not_null())
                .col(text(Operations::Jobs))
                .col(text(Operations::Message))
                .col(nullable(Operations::RetryOf))
                .col(nullable(Operations::ResumeJob))
                .col(
                    ColumnDef::new(Operations::RollbackToVersion)
                        .big_integer()
                        .null(),
                )
                .col(time(Operations::CreateTime))
                .col(
                    ColumnDef::new(Operations::EndTime)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
    let columns = "name, deployment, action, status, actor, request_id, phases, phase_index, \
                   jobs, message, retry_of, resume_job, rollback_to_version, create_time, end_time";
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "INSERT INTO {NEXT_OPERATIONS} ({columns}) SELECT {columns} FROM operations"
        ))
        .await?;
    replace_table(manager, "operations", NEXT_OPERATIONS).await?;
    // The indexes went with the old table (see m20261128_000003_create_operations).
    manager
        .create_index(
            Index::create()
                .name("operations_deployment_idx")
                .table(Operations::Table)
                .col(Operations::Deployment)
                .col(Operations::CreateTime)
                .to_owned(),
        )
        .await?;
    manager
        .get_connection()
        .execute_unprepared(
            "CREATE UNIQUE INDEX operations_one_running ON operations (deployment) WHERE status = 'running'",
        )
        .await?;
    Ok(())
}

#[derive(DeriveIden)]
enum RequestIds {
    Method,
    Parent,
    RequestId,
    Resource,
    CreateTime,
}

#[derive(DeriveIden)]
enum Operations {
    Table,
    Name,
    Deployment,
    Action,
    Status,
    Actor,
    RequestId,
    Phases,
    PhaseIndex,
    Jobs,
    Message,
    RollbackToVersion,
    RetryOf,
    ResumeJob,
    CreateTime,
    EndTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_scoped_to_the_parent_of_its_resource() {
        assert_eq!(parent_of("projects/acme"), "");
        assert_eq!(parent_of("projects/acme/scopes/dev"), "projects/acme");
        assert_eq!(
            parent_of("projects/acme/groups/web/deployments/shop"),
            "projects/acme/groups/web"
        );
    }
}
