//! Storage of book-runner-svc: books and jobs.

pub mod books;
mod entity;
pub mod jobs;
pub mod migration;

use crate::domain::error::StoreError;

/// The database's failures, as the domain sees them (kept here: the domain knows no SQL).
impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Database(Box::new(err))
    }
}
