//! Projects, scopes, clusters, groups and deployments on sea-orm, for SQLite and PostgreSQL.
//!
//! [`ResourceStore`] runs the API's writes, each in one transaction (taken with
//! [`eyrie_platform::db::begin_write`], so SQLite serialises writers instead of failing them).
//! The free functions read and write inside a caller's transaction: the lifecycle uses them to
//! change a deployment together with its operation and outbox rows.

mod deployments;
mod groups;
mod projects;
mod requests;
mod rows;

use chrono::{DateTime, SubsecRound as _, Utc};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select,
};

pub use deployments::{
    deployment_states, find_deployment, find_deployment_for_update, project_namespaces,
    save_deployment, version_record,
};
pub use groups::find_group;
pub use projects::{find_clusters, find_project, find_scope};
pub use requests::Method;

use crate::domain::{DeploymentError, StoreError, resources::PageRequest};

/// The resources in deployment-svc's own database.
#[derive(Debug, Clone)]
pub struct ResourceStore {
    db: DatabaseConnection,
}

impl ResourceStore {
    /// Uses `db`, whose migrations have been applied.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection, for callers that run their own transactions.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// The current time at the precision both backends keep (microseconds), so that a resource
/// returned by a write equals the same resource read back.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl From<DbErr> for DeploymentError {
    fn from(err: DbErr) -> Self {
        Self::Store(err.into())
    }
}

/// One page of `select`, as every List reads it: the rows whose `name` column sorts after the
/// page's start (all rows on the first page), by name, at most `page.limit`.
async fn fetch_page<E, T>(
    db: &DatabaseConnection,
    select: Select<E>,
    name: E::Column,
    page: &PageRequest,
    from_row: fn(E::Model) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    E: EntityTrait,
{
    let select = match &page.after {
        Some(after) => select.filter(name.gt(after.clone())),
        None => select,
    };
    select
        .order_by_asc(name)
        .limit(page.limit)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Inserts `row` unless its primary key is taken; false when it is. `ON CONFLICT DO NOTHING`
/// rather than a unique-violation error: the outcome is the same on both backends, and a
/// PostgreSQL transaction is not poisoned by it.
async fn insert_new<A>(txn: &sea_orm::DatabaseTransaction, row: A) -> Result<bool, DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let outcome = <A::Entity as sea_orm::EntityTrait>::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    Ok(matches!(outcome, sea_orm::TryInsertResult::Inserted(rows) if rows > 0))
}

/// Whether an insert failed on a unique index other than the primary key.
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
