//! The one failure of a service's storage layer, shared by every service: the database failed,
//! or a row could not be read back. Domain code names it without knowing any SQL.

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the operation.
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row could not be read back into the domain.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Database(Box::new(err))
    }
}
