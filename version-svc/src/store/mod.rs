//! Storage of versions: the trait the service uses, and its sea-orm implementation.

mod entity;
pub mod migration;
mod sea;

use std::future::Future;

use eyrie_platform::names::DeploymentName;

pub use self::sea::SeaVersionStore;
use crate::domain::{NewVersion, Recorded, StoreError, Version};

/// Where versions live.
pub trait VersionStore: Send + Sync + 'static {
    /// Records `new` atomically: numbering, idempotency and ordering hold under concurrent calls
    /// from any number of replicas.
    fn record(&self, new: &NewVersion)
    -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Version `number` of `deployment`.
    fn get(
        &self,
        deployment: &DeploymentName,
        number: i64,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send;

    /// Up to `limit` versions of `deployment` numbered below `before` (all when `None`), newest first.
    fn list(
        &self,
        deployment: &DeploymentName,
        before: Option<i64>,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<Version>, StoreError>> + Send;
}
