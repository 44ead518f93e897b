//! A cluster seen through a deployment's [`Confinement`]: every operation names its object,
//! and an object outside the rule fails before anything reaches the driver. Reads (get, wait,
//! list) are checked as reads, which the rule may let reach further than writes.

use async_trait::async_trait;
use serde_json::Value;

use super::{
    ApplyOutcome, Cluster, ClusterError, DeleteOutcome, ObjectRef, Selector, WaitProgress, WaitSpec,
};
use crate::domain::confinement::{Access, Confinement, ObjectScope};

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

    async fn allow(&self, target: &ObjectRef, access: Access) -> Result<(), ClusterError> {
        let scope = self.inner.scope_of(target).await?;
        self.rule
            .check_access(target, scope, access)
            .map_err(|reason| ClusterError::Refused {
                reason: "OutsideProject".to_owned(),
                message: reason,
            })
    }
}

#[async_trait]
impl Cluster for Confined<'_> {
    async fn apply(&self, manifest: &Value, force: bool) -> Result<ApplyOutcome, ClusterError> {
        self.allow(&ObjectRef::of_manifest(manifest)?, Access::Write)
            .await?;
        self.inner.apply(manifest, force).await
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        self.allow(&ObjectRef::of_manifest(manifest)?, Access::Write)
            .await?;
        self.inner.create_if_absent(manifest).await
    }

    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError> {
        self.allow(target, Access::Write).await?;
        self.inner.merge_patch(target, patch).await
    }

    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        self.allow(target, Access::Write).await?;
        self.inner.delete(target).await
    }

    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        self.allow(target, Access::Read).await?;
        self.inner.get(target).await
    }

    /// Checked like `get`: the pods a driver reads while waiting are in the target's
    /// namespace, which this allows to read.
    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        self.allow(target, Access::Read).await?;
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
        self.allow(&listed, Access::Read).await?;
        self.inner
            .list(namespace, api_version, kind, selector)
            .await
    }

    async fn scope_of(&self, target: &ObjectRef) -> Result<ObjectScope, ClusterError> {
        self.inner.scope_of(target).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cluster::{Condition, directory::DirectoryCluster};

    /// A list reaches exactly the namespaces a get reaches, and writes go no further
    /// than before.
    #[tokio::test]
    async fn reads_and_lists_reach_the_readable_namespaces_and_writes_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = DirectoryCluster::new(dir.path());
        let rule = Confinement::to_namespace("shop").reading(["db".to_owned()]);
        let confined = Confined::new(&cluster, &rule);
        let everything = Selector::default();
        let secret = |namespace: &str| ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(namespace.into()),
            name: "creds".into(),
        };
        for readable in ["shop", "db"] {
            confined.get(&secret(readable)).await.unwrap();
            confined
                .list(readable, "v1", "Pod", &everything)
                .await
                .unwrap();
        }
        let refused = |result: Result<(), ClusterError>| matches!(result, Err(ClusterError::Refused { reason, .. }) if reason == "OutsideProject");
        assert!(refused(confined.get(&secret("other")).await.map(|_| ())));
        assert!(refused(
            confined
                .list("other", "v1", "Pod", &everything)
                .await
                .map(|_| ())
        ));
        let wait = WaitSpec::new(Condition::Exists);
        assert!(refused(
            confined.wait(&secret("other"), &wait, &|_| {}).await
        ));
        let write = json!({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": "creds", "namespace": "db"}});
        assert!(refused(confined.apply(&write, false).await.map(|_| ())));
        assert!(refused(confined.delete(&secret("db")).await.map(|_| ())));
        assert!(refused(
            confined.merge_patch(&secret("db"), &json!({})).await
        ));
    }
}
