//! Failures shared by book-runner-svc's use cases.

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
