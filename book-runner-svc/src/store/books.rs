//! Books on sea-orm, for SQLite and PostgreSQL.

use chrono::{DateTime, SubsecRound as _, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, Condition, DatabaseConnection, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, TryInsertResult,
    sea_query::{Expr, ExprTrait as _},
};

use super::entity::book;
use crate::domain::{
    book::BookSpec,
    books::{BookError, BookQuery, NewBook, StoredBook, etag_of, type_change},
    error::StoreError,
};

/// Books in book-runner-svc's own database.
#[derive(Debug, Clone)]
pub struct SeaBookStore {
    db: DatabaseConnection,
}

/// What a built-in book row needs next.
enum BuiltinAction {
    Insert,
    Keep,
    Refresh { revision: i64 },
}

impl SeaBookStore {
    /// Uses `db`, whose migrations have been applied.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a new (non built-in) book at revision 1; `AlreadyExists` when the name is taken.
    pub async fn create(&self, book: &NewBook) -> Result<StoredBook, BookError> {
        let now = now();
        let stored = StoredBook {
            name: book.name.to_string(),
            project: book.name.project.clone(),
            spec: book.spec.clone(),
            builtin: false,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        // ON CONFLICT DO NOTHING rather than a unique-violation error: the outcome is the same
        // on both backends, and a PostgreSQL transaction would not be poisoned by it.
        if self.insert(&stored).await? {
            Ok(stored)
        } else {
            Err(BookError::AlreadyExists(stored.name))
        }
    }

    /// The book named `name` (a resource name), if any.
    pub async fn get(&self, name: &str) -> Result<Option<StoredBook>, StoreError> {
        book::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// The books of `query`, in list order: a project's books by name, then (with
    /// `include_global`) the global ones by name.
    pub async fn list(&self, query: &BookQuery) -> Result<Vec<StoredBook>, StoreError> {
        let after = query.after_name.as_deref();
        let after_global = after.is_some_and(|name| name.starts_with("books/"));
        let global = || {
            let mut condition = Condition::all().add(book::Column::Project.eq(""));
            if let Some(after) = after.filter(|_| after_global) {
                condition = condition.add(book::Column::Name.gt(after));
            }
            condition
        };
        let mut scope = match &query.project {
            None => global(),
            // The page starts among the global books: the project's own all came before.
            Some(_) if after_global => global(),
            Some(project) => {
                let mut own = Condition::all().add(book::Column::Project.eq(project.clone()));
                if let Some(after) = after {
                    own = own.add(book::Column::Name.gt(after));
                }
                if query.include_global {
                    Condition::any().add(own).add(global())
                } else {
                    own
                }
            }
        };
        if let Some(deployment_type) = query.deployment_type {
            scope = Condition::all()
                .add(scope)
                .add(book::Column::DeploymentType.eq(deployment_type.as_str()));
        }
        // Project slugs are not empty, so descending order puts the project's books before the
        // global ones ('').
        book::Entity::find()
            .filter(scope)
            .order_by_desc(book::Column::Project)
            .order_by_asc(book::Column::Name)
            .limit(query.limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// Replaces the content of a (non built-in) book if its revision is still
    /// `expected_revision`, in one compare-and-set statement, and returns the new state.
    pub async fn update(
        &self,
        name: &str,
        expected_revision: i64,
        spec: &BookSpec,
    ) -> Result<StoredBook, BookError> {
        let now = now();
        let updated = book::Entity::update_many()
            .col_expr(book::Column::Spec, Expr::value(spec_json(spec)?))
            .col_expr(
                book::Column::Revision,
                Expr::col(book::Column::Revision).add(1),
            )
            .col_expr(book::Column::UpdatedAt, Expr::value(now))
            .filter(book::Column::Name.eq(name))
            .filter(book::Column::Revision.eq(expected_revision))
            .filter(book::Column::Builtin.eq(false))
            .filter(book::Column::DeploymentType.eq(spec.deployment_type.clone()))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        let current = self
            .get(name)
            .await?
            .ok_or_else(|| BookError::NotFound(name.to_owned()))?;
        if updated.rows_affected == 1 {
            return Ok(current);
        }
        // Nothing changed: say why, from the row as it is now.
        if current.builtin {
            return Err(BookError::BuiltinReadOnly(current.name));
        }
        if current.spec.deployment_type != spec.deployment_type {
            return Err(type_change(
                &current.spec.deployment_type,
                &spec.deployment_type,
            ));
        }
        Err(BookError::EtagMismatch {
            name: current.name.clone(),
            expected: etag_of(expected_revision),
            actual: current.etag(),
        })
    }

    /// Makes the stored built-in books match `books` (each stored as `books/{name}`): inserts
    /// the missing ones and updates (revision + 1) those whose shipped content changed.
    /// Idempotent, and safe when several replicas start together: a lost race is settled by
    /// reading the row again. A global book that is not built in is left alone.
    pub async fn ensure_builtins(&self, books: &[BookSpec]) -> Result<(), StoreError> {
        for spec in books {
            let name = format!("books/{}", spec.name);
            // Each turn either settles the book or saw another replica change it; a handful of
            // turns is plenty, and the bound keeps a bug from looping forever.
            for _ in 0..5 {
                let current = self.get(&name).await?;
                let action = match &current {
                    None => BuiltinAction::Insert,
                    Some(stored) if !stored.builtin => {
                        tracing::warn!(book = %name, "a global book that is not built in has a built-in book's name; kept as is");
                        BuiltinAction::Keep
                    }
                    Some(stored) if stored.spec == *spec => BuiltinAction::Keep,
                    Some(stored) => BuiltinAction::Refresh {
                        revision: stored.revision,
                    },
                };
                if self.apply_builtin(&name, spec, action).await? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Carries out `action`; false when another writer got there first.
    async fn apply_builtin(
        &self,
        name: &str,
        spec: &BookSpec,
        action: BuiltinAction,
    ) -> Result<bool, StoreError> {
        let now = now();
        match action {
            BuiltinAction::Keep => Ok(true),
            BuiltinAction::Insert => {
                let inserted = self
                    .insert(&StoredBook {
                        name: name.to_owned(),
                        project: None,
                        spec: spec.clone(),
                        builtin: true,
                        revision: 1,
                        created_at: now,
                        updated_at: now,
                    })
                    .await?;
                if inserted {
                    tracing::info!(book = %name, "built-in book created");
                }
                Ok(inserted)
            }
            BuiltinAction::Refresh { revision } => {
                let updated = book::Entity::update_many()
                    .col_expr(book::Column::Spec, Expr::value(spec_json(spec)?))
                    .col_expr(
                        book::Column::DeploymentType,
                        Expr::value(spec.deployment_type.clone()),
                    )
                    .col_expr(book::Column::Revision, Expr::value(revision + 1))
                    .col_expr(book::Column::UpdatedAt, Expr::value(now))
                    .filter(book::Column::Name.eq(name))
                    .filter(book::Column::Revision.eq(revision))
                    .exec(&self.db)
                    .await?;
                if updated.rows_affected == 1 {
                    tracing::info!(book = %name, revision = revision + 1, "built-in book updated");
                }
                Ok(updated.rows_affected == 1)
            }
        }
    }

    /// Inserts `stored`; false when its name is taken.
    async fn insert(&self, stored: &StoredBook) -> Result<bool, StoreError> {
        let row = book::ActiveModel {
            name: Set(stored.name.clone()),
            project: Set(stored.project.clone().unwrap_or_default()),
            deployment_type: Set(stored.spec.deployment_type.clone()),
            builtin: Set(stored.builtin),
            spec: Set(spec_json(&stored.spec)?),
            revision: Set(stored.revision),
            created_at: Set(stored.created_at),
            updated_at: Set(stored.updated_at),
        };
        let outcome = book::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await?;
        Ok(matches!(outcome, TryInsertResult::Inserted(rows) if rows > 0))
    }
}

/// The current time at the precision both backends keep (microseconds), so that a book returned
/// by a write equals the same book read back.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn spec_json(spec: &BookSpec) -> Result<String, StoreError> {
    serde_json::to_string(spec).map_err(|err| StoreError::Corrupt(err.to_string()))
}

fn to_domain(row: book::Model) -> Result<StoredBook, StoreError> {
    let spec: BookSpec = serde_json::from_str(&row.spec)
        .map_err(|err| StoreError::Corrupt(format!("book {}: {err}", row.name)))?;
    Ok(StoredBook {
        project: Some(row.project).filter(|project| !project.is_empty()),
        name: row.name,
        spec,
        builtin: row.builtin,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
