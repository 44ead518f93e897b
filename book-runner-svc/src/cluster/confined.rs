//! A cluster seen through a deployment's [`Confinement`]: every operation names its object,
//! and an object outside the rule fails before anything reaches the driver.

use async_trait::async_trait;
use serde_json::Value;

use super::{
    ApplyOutcome, Cluster, ClusterError, Condition, DeleteOutcome, ObjectRef, Selector,
    WaitProgress, WaitSpec,
};
use crate::domain::confinement::{Confinement, ObjectScope};

/// `inner`, refusing what `rule` does not allow.
pub struct Confined<'a> {
    inner: &'a dyn Cluster,
    rule: &'a Confinement,
}

impl<'a> Confined<'a> {
    /// Wraps `inner` with `rule`.
    pub fn new(inner: &'a dyn Cluster, rule: &'a Confinement) -> Self {
        Self { inner, rule }
    }

    async fn allow(&self, target: &ObjectRef) -> Result<(), ClusterError> {
        let scope = self.inner.scope_of(target).await?;
        self.rule
            .check(target, scope)
            .map_err(|reason| ClusterError::Refused {
                reason: "OutsideProject".to_owned(),
                message: reason,
            })
    }
}

#[async_trait]
impl Cluster for Confined<'_> {
    async fn apply(&self, manifest: &Value, force: bool) -> Result<ApplyOutcome, ClusterError> {
        self.allow(&ObjectRef::of_manifest(manifest)?).await?;
        self.inner.apply(manifest, force).await
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        self.allow(&ObjectRef::of_manifest(manifest)?).await?;
        self.inner.create_if_absent(manifest).await
    }

    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError> {
        self.allow(target).await?;
        self.inner.merge_patch(target, patch).await
    }

    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        self.allow(target).await?;
        self.inner.delete(target).await
    }

    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        self.allow(target).await?;
        self.inner.get(target).await
    }

    async fn wait_for(
        &self,
        target: &ObjectRef,
        condition: &Condition,
    ) -> Result<(), ClusterError> {
        self.allow(target).await?;
        self.inner.wait_for(target, condition).await
    }

    /// Checked like `get`: the pods a driver reads while waiting are in the target's
    /// namespace, which this allows.
    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        self.allow(target).await?;
        self.inner.wait(target, wait, progress).await
    }

    /// Checked like `get` of an object of `kind` in `namespace`.
    async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError> {
        // The rule looks at the kind and the namespace; `*` stands for the objects listed in
        // its message.
        let listed = ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: "*".to_owned(),
        };
        self.allow(&listed).await?;
        self.inner
            .list(namespace, api_version, kind, selector)
            .await
    }

    async fn scope_of(&self, target: &ObjectRef) -> Result<ObjectScope, ClusterError> {
        self.inner.scope_of(target).await
    }
}
