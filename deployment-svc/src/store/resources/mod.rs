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

use std::fmt::Display;

use chrono::{DateTime, SubsecRound as _, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Select,
};

#[cfg(test)]
pub(crate) use deployments::list_statement;
pub use deployments::{
    deployment_states, find_deployment, find_deployment_for_update, project_namespaces,
    save_deployment, version_record,
};
pub use groups::find_group;
pub use projects::{find_clusters, find_project, find_scope};
pub use requests::Method;

use self::{
    requests::{remember, replayed},
    rows::Stored,
};
use crate::domain::{
    DeploymentError, StoreError,
    names::ProjectName,
    resources::{PageRequest, Project, RequestMeta, etag_matches, etag_of},
};

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

    /// What every Create but CreateDeployment does, in one transaction: a replayed request id
    /// returns the resource its first call made; otherwise the `parent` project (when there is
    /// one) must exist, and the resource `make` builds is inserted unless `name` is taken.
    async fn create<T: Stored>(
        &self,
        method: Method,
        meta: &RequestMeta,
        name: &impl Display,
        parent: Option<ProjectName>,
        make: impl FnOnce() -> T,
    ) -> Result<T, DeploymentError> {
        let name = name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, method, meta, &name).await? {
            return existing(find_named(&txn, &name).await?, &name);
        }
        if let Some(project) = parent.as_ref().map(ToString::to_string) {
            existing::<Project>(find_named(&txn, &project).await?, &project)?;
        }
        let created = make();
        if !insert_new(&txn, created.to_row()?).await? {
            already_created::<T>(&txn, method, meta, &name).await?;
            return existing(find_named(&txn, &name).await?, &name);
        }
        remember(&txn, method, meta, &name).await?;
        txn.commit().await?;
        Ok(created)
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
async fn fetch_page<T: Stored>(
    db: &DatabaseConnection,
    select: Select<T::Entity>,
    name: <T::Entity as EntityTrait>::Column,
    page: &PageRequest,
) -> Result<Vec<T>, StoreError> {
    page_of(select, name, page)
        .all(db)
        .await?
        .into_iter()
        .map(T::from_row)
        .collect()
}

/// The page `page` of `select`: a keyset page, the rows named after the last one read, in
/// name order. With an index on (parent, name), every page costs the same however many rows
/// the table holds.
fn page_of<E: EntityTrait>(select: Select<E>, name: E::Column, page: &PageRequest) -> Select<E> {
    let select = match &page.after {
        Some(after) => select.filter(name.gt(after.clone())),
        None => select,
    };
    select.order_by_asc(name).limit(page.limit)
}

/// The resource named `name` (its row's primary key), if any.
async fn find_named<T: Stored>(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<T>, StoreError> {
    let row = T::Entity::find_by_id(name.to_owned()).one(conn).await?;
    row.map(T::from_row).transpose()
}

/// The resource named `name`, its row locked until `txn` ends (`SELECT … FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already excludes other writers): updates read this
/// way, so that concurrent ones queue rather than lose their compare-and-set.
async fn lock_named<T: Stored>(
    txn: &DatabaseTransaction,
    name: &str,
) -> Result<Option<T>, StoreError> {
    let row = T::Entity::find_by_id(name.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?;
    row.map(T::from_row).transpose()
}

/// What `find_named` or `lock_named` found of `name`; `NOT_FOUND` when nothing.
fn existing<T: Stored>(found: Option<T>, name: &str) -> Result<T, DeploymentError> {
    found.ok_or_else(|| DeploymentError::not_found(T::KIND, name))
}

/// After an insert found the name taken: `Ok` when the row is the work of an earlier call with
/// the same request id (a retry racing its first call), `ALREADY_EXISTS` otherwise.
async fn already_created<T: Stored>(
    txn: &DatabaseTransaction,
    method: Method,
    meta: &RequestMeta,
    name: &str,
) -> Result<(), DeploymentError> {
    if replayed(txn, method, meta, name).await? {
        Ok(())
    } else {
        Err(DeploymentError::already_exists(T::KIND, name))
    }
}

/// `EtagMismatch` unless `etag` (when sent) is the etag of `revision`, the revision the
/// resource `name` was read at.
fn check_etag(name: &str, etag: Option<&str>, revision: i64) -> Result<(), DeploymentError> {
    match etag {
        Some(etag) if !etag_matches(etag, revision) => Err(DeploymentError::EtagMismatch {
            name: name.to_owned(),
            expected: etag.to_owned(),
            actual: etag_of(revision),
        }),
        _ => Ok(()),
    }
}

/// Inserts `row` unless its primary key is taken; false when it is. `ON CONFLICT DO NOTHING`
/// rather than a unique-violation error: the outcome is the same on both backends, and a
/// PostgreSQL transaction is not poisoned by it.
async fn insert_new<A>(txn: &DatabaseTransaction, row: A) -> Result<bool, DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let outcome = <A::Entity as EntityTrait>::insert(row)
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
