//! Failures shared by book-runner-svc's use cases.

/// Failures of the storage layer (shared by every service).
pub use eyrie_platform::store_error::StoreError;
