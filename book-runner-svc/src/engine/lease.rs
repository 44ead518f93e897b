//! The local deadline of a worker's lease, and the cluster it fences.
//!
//! The database's lease lets another worker take a job over once `lease_expires_at` has passed;
//! fencing (the lease epoch) then refuses the old worker's database writes, but it cannot stop
//! what that worker sends to a cluster. So each worker keeps a deadline of its own, on its
//! monotonic clock, shorter than the lease: it starts from the instant *before* the claim or
//! renewal was sent (the database's expiry is counted from a later instant), moves only with a
//! successful renewal, and once passed it stays passed. At the deadline the run is stopped (a
//! step in flight is cancelled) and [`Fenced`] refuses every cluster operation, so no write starts
//! after it, while the lease itself still has a quarter of its time to run.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::Value;
use tokio::{sync::watch, time::Instant};

use crate::{
    cluster::{
        ApplyOutcome, Cluster, ClusterError, DeleteOutcome, ObjectRef, Selector, WaitProgress,
        WaitSpec,
    },
    domain::confinement::ObjectScope,
};

/// How long a lease of `ttl` lets a worker touch clusters after it asked for it: three quarters
/// of it, the rest being the margin for clock skew between workers and requests in flight.
pub(super) fn local_ttl(ttl: Duration) -> Duration {
    ttl.saturating_sub(ttl / 4)
}

/// The instant by which a worker must have stopped touching clusters for one job.
#[derive(Debug)]
pub(super) struct LeaseDeadline {
    at: watch::Sender<Instant>,
    local_ttl: Duration,
}

impl LeaseDeadline {
    /// The deadline of a lease of `ttl` asked for at `asked` (taken before the request was sent).
    pub fn new(asked: Instant, ttl: Duration) -> Arc<Self> {
        let local_ttl = local_ttl(ttl);
        Arc::new(Self {
            at: watch::Sender::new(asked + local_ttl),
            local_ttl,
        })
    }

    /// The lease was renewed by a request sent at `sent`: the deadline moves on, unless it had
    /// already passed (a worker that stopped does not start again) or would move back.
    pub fn renewed(&self, sent: Instant) {
        let next = sent + self.local_ttl;
        self.at.send_if_modified(|at| {
            if Instant::now() >= *at || next <= *at {
                return false;
            }
            *at = next;
            true
        });
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= *self.at.borrow()
    }

    /// How long until the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.borrow().saturating_duration_since(Instant::now())
    }

    /// Resolves when the deadline passes, following the renewals that move it.
    pub async fn expired(&self) {
        let mut moves = self.at.subscribe();
        loop {
            let at = *moves.borrow_and_update();
            tokio::select! {
                () = tokio::time::sleep_until(at) => {
                    if self.passed() {
                        return;
                    }
                }
                // The sender lives as long as `self`: it cannot be dropped while we wait.
                _ = moves.changed() => {}
            }
        }
    }
}

/// A cluster that refuses every operation once the worker's deadline has passed, and cancels an
/// operation still running at the deadline.
pub(super) struct Fenced<'a> {
    inner: &'a dyn Cluster,
    deadline: &'a LeaseDeadline,
}

impl<'a> Fenced<'a> {
    /// `inner`, usable until `deadline`.
    pub fn new(inner: &'a dyn Cluster, deadline: &'a LeaseDeadline) -> Self {
        Self { inner, deadline }
    }

    async fn guard<T>(
        &self,
        what: impl FnOnce() -> String,
        operation: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        if self.deadline.passed() {
            return Err(lease_expired(&what()));
        }
        tokio::select! {
            biased;
            () = self.deadline.expired() => Err(lease_expired(&what())),
            result = operation => result,
        }
    }
}

/// The error of an operation the deadline stopped. The step never reports it: the run stops as
/// interrupted, and the worker that takes the job over runs the step again.
fn lease_expired(what: &str) -> ClusterError {
    ClusterError::Refused {
        reason: "LeaseExpired".to_owned(),
        message: format!(
            "{what} not sent: this worker's lease on the job ran out before it could be renewed"
        ),
    }
}

fn object_of(manifest: &Value) -> String {
    ObjectRef::of_manifest(manifest)
        .map(|target| target.to_string())
        .unwrap_or_else(|_| "manifest".to_owned())
}

#[async_trait]
impl Cluster for Fenced<'_> {
    async fn apply(&self, manifest: &Value, force: bool) -> Result<ApplyOutcome, ClusterError> {
        self.guard(
            || format!("apply of {}", object_of(manifest)),
            self.inner.apply(manifest, force),
        )
        .await
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        self.guard(
            || format!("creation of {}", object_of(manifest)),
            self.inner.create_if_absent(manifest),
        )
        .await
    }

    async fn merge_patch(&self, target: &ObjectRef, patch: &Value) -> Result<(), ClusterError> {
        self.guard(
            || format!("patch of {target}"),
            self.inner.merge_patch(target, patch),
        )
        .await
    }

    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        self.guard(
            || format!("deletion of {target}"),
            self.inner.delete(target),
        )
        .await
    }

    async fn get(&self, target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        self.guard(|| format!("read of {target}"), self.inner.get(target))
            .await
    }

    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        self.guard(
            || format!("wait for {target}"),
            self.inner.wait(target, wait, progress),
        )
        .await
    }

    async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError> {
        self.guard(
            || format!("list of {kind} in {namespace}"),
            self.inner.list(namespace, api_version, kind, selector),
        )
        .await
    }

    async fn scope_of(&self, target: &ObjectRef) -> Result<ObjectScope, ClusterError> {
        self.guard(
            || format!("discovery of {}", target.kind),
            self.inner.scope_of(target),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    #[test]
    fn the_local_deadline_leaves_a_quarter_of_the_lease() {
        assert_eq!(local_ttl(Duration::from_secs(20)), Duration::from_secs(15));
        assert_eq!(
            local_ttl(Duration::from_secs(2)),
            Duration::from_millis(1500)
        );
    }

    #[tokio::test]
    async fn renewals_move_the_deadline_on_but_never_back_nor_after_it_passed() {
        let start = Instant::now();
        let deadline = LeaseDeadline::new(start, Duration::from_secs(3600));
        assert!(!deadline.passed());
        let first = *deadline.at.borrow();
        deadline.renewed(start - Duration::from_secs(1));
        assert_eq!(
            *deadline.at.borrow(),
            first,
            "an older renewal changes nothing"
        );
        deadline.renewed(start + Duration::from_secs(5));
        assert_eq!(*deadline.at.borrow(), first + Duration::from_secs(5));

        // A deadline that has passed stays passed, whatever renewal answers late.
        let asked = Instant::now() - Duration::from_secs(10);
        let lapsed = LeaseDeadline::new(asked, Duration::from_secs(4));
        assert!(lapsed.passed());
        lapsed.renewed(Instant::now());
        assert!(lapsed.passed());
        assert_eq!(lapsed.remaining(), Duration::ZERO);
        tokio::time::timeout(Duration::from_secs(60), lapsed.expired())
            .await
            .expect("a passed deadline has expired");
    }

    /// Counts the operations that reach it; its waits never end.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Cluster for Counting {
        async fn apply(&self, _: &Value, _: bool) -> Result<ApplyOutcome, ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ApplyOutcome::Created)
        }
        async fn create_if_absent(&self, _: &Value) -> Result<bool, ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
        async fn merge_patch(&self, _: &ObjectRef, _: &Value) -> Result<(), ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn delete(&self, _: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(DeleteOutcome::Deleted)
        }
        async fn get(&self, _: &ObjectRef) -> Result<Option<Value>, ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
        async fn wait(
            &self,
            _: &ObjectRef,
            _: &WaitSpec,
            _: &WaitProgress<'_>,
        ) -> Result<(), ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }
        async fn list(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &Selector,
        ) -> Result<Vec<Value>, ClusterError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
    }

    fn pod() -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("ns".into()),
            name: "p".into(),
        }
    }

    #[tokio::test]
    async fn no_operation_reaches_the_cluster_once_the_deadline_passed() {
        let cluster = Counting::default();
        let lapsed = LeaseDeadline::new(
            Instant::now() - Duration::from_secs(10),
            Duration::from_secs(4),
        );
        let fenced = Fenced::new(&cluster, &lapsed);
        let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "c", "namespace": "ns"}});
        let refusals = [
            fenced.apply(&manifest, false).await.map(|_| ()),
            fenced.create_if_absent(&manifest).await.map(|_| ()),
            fenced.merge_patch(&pod(), &json!({})).await,
            fenced.delete(&pod()).await.map(|_| ()),
            fenced.get(&pod()).await.map(|_| ()),
            fenced
                .wait_for(&pod(), &crate::cluster::Condition::Exists)
                .await,
            fenced.scope_of(&pod()).await.map(|_| ()),
        ];
        for refusal in refusals {
            match refusal {
                Err(ClusterError::Refused { reason, message }) => {
                    assert_eq!(reason, "LeaseExpired");
                    assert!(message.contains("lease"), "{message}");
                }
                other => panic!("expected LeaseExpired, got {other:?}"),
            }
        }
        assert_eq!(cluster.0.load(Ordering::SeqCst), 0);

        // Before the deadline, operations pass.
        let live = LeaseDeadline::new(Instant::now(), Duration::from_secs(3600));
        let fenced = Fenced::new(&cluster, &live);
        fenced.apply(&manifest, false).await.unwrap();
        assert_eq!(cluster.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_operation_running_at_the_deadline_is_cancelled() {
        let cluster = Counting::default();
        // A deadline a moment away: the wait below never ends by itself, so only the deadline
        // can end it, whenever it comes.
        let deadline = LeaseDeadline::new(Instant::now(), Duration::from_millis(40));
        let fenced = Fenced::new(&cluster, &deadline);
        let waited = tokio::time::timeout(
            Duration::from_secs(60),
            fenced.wait_for(&pod(), &crate::cluster::Condition::Exists),
        )
        .await
        .expect("the deadline ends the wait");
        assert!(
            matches!(&waited, Err(ClusterError::Refused { reason, .. }) if reason == "LeaseExpired"),
            "{waited:?}"
        );
        assert!(deadline.passed());
    }
}
