//! A cluster that records every write it receives, with who wrote and when; it can hold writes
//! at a gate, to keep a step in flight for as long as a test needs.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eyrie_book_runner_svc::{
    cluster::{
        ApplyOutcome, Cluster, ClusterError, DeleteOutcome, ObjectRef, Selector, WaitProgress,
        WaitSpec,
    },
    domain::snapshot::{ClusterFacts, NamedFacts},
    engine::ConnectCluster,
};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

/// One write that reached the cluster.
#[derive(Debug, Clone)]
pub struct Write {
    /// The worker whose cluster driver sent it.
    pub worker: &'static str,
    /// `apply`, `create`, `patch` or `delete`.
    pub operation: &'static str,
    /// The object written.
    pub object: String,
    /// When it took effect (wall clock, as leases are stored).
    pub at: DateTime<Utc>,
}

/// The writes every [`RecordingCluster`] sharing it received, in order.
pub type Writes = Arc<Mutex<Vec<Write>>>;

/// What happens to a write held at a [`Gate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// The write of this object reached the gate and waits there.
    Waiting(String),
    /// The write waiting at the gate was cancelled (its future dropped) before it took effect,
    /// at this time (taken when it happened, not when a test reads the event).
    Cancelled(String, DateTime<Utc>),
}

/// Lets the first writes through, then holds the others until opened.
pub struct Gate {
    free: Mutex<usize>,
    open: watch::Sender<bool>,
    events: mpsc::UnboundedSender<Held>,
}

impl Gate {
    /// A gate that lets `free` writes through; the receiver tells what happens to the others.
    pub fn new(free: usize) -> (Arc<Self>, mpsc::UnboundedReceiver<Held>) {
        let (events, held) = mpsc::unbounded_channel();
        let gate = Self {
            free: Mutex::new(free),
            open: watch::Sender::new(false),
            events,
        };
        (Arc::new(gate), held)
    }

    /// Lets every write through from now on.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    async fn pass(&self, object: &str) {
        {
            let mut free = self.free.lock().unwrap();
            if *free > 0 {
                *free -= 1;
                return;
            }
        }
        /// Reports a cancellation unless disarmed.
        struct Waiting<'a>(&'a Gate, Option<String>);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if let Some(object) = self.1.take() {
                    let _ = self.0.events.send(Held::Cancelled(object, Utc::now()));
                }
            }
        }
        let mut waiting = Waiting(self, Some(object.to_owned()));
        let _ = self.events.send(Held::Waiting(object.to_owned()));
        let mut open = self.open.subscribe();
        open.wait_for(|open| *open).await.expect("the gate lives");
        waiting.1 = None;
    }
}

/// A cluster that keeps nothing and records every write; reads find nothing.
pub struct RecordingCluster {
    worker: &'static str,
    writes: Writes,
    gate: Option<Arc<Gate>>,
}

impl RecordingCluster {
    /// Records `worker`'s writes in `writes`, holding them at `gate` if there is one.
    pub fn new(worker: &'static str, writes: Writes, gate: Option<Arc<Gate>>) -> Arc<Self> {
        Arc::new(Self {
            worker,
            writes,
            gate,
        })
    }

    async fn write(&self, operation: &'static str, object: String) {
        if let Some(gate) = &self.gate {
            gate.pass(&object).await;
        }
        self.writes.lock().unwrap().push(Write {
            worker: self.worker,
            operation,
            object,
            at: Utc::now(),
        });
    }
}

#[async_trait]
impl Cluster for RecordingCluster {
    async fn apply(&self, manifest: &Value, _force: bool) -> Result<ApplyOutcome, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        self.write("apply", target.to_string()).await;
        Ok(ApplyOutcome::Created)
    }

    async fn create_if_absent(&self, manifest: &Value) -> Result<bool, ClusterError> {
        let target = ObjectRef::of_manifest(manifest)?;
        self.write("create", target.to_string()).await;
        Ok(true)
    }

    async fn merge_patch(&self, target: &ObjectRef, _patch: &Value) -> Result<(), ClusterError> {
        self.write("patch", target.to_string()).await;
        Ok(())
    }

    async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, ClusterError> {
        self.write("delete", target.to_string()).await;
        Ok(DeleteOutcome::Deleted)
    }

    async fn get(&self, _target: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        Ok(None)
    }

    async fn wait(
        &self,
        target: &ObjectRef,
        wait: &WaitSpec,
        _progress: &WaitProgress<'_>,
    ) -> Result<(), ClusterError> {
        Err(ClusterError::Unavailable(format!(
            "the recording cluster cannot wait for {target} to be {wait}"
        )))
    }

    async fn list(
        &self,
        namespace: &str,
        _api_version: &str,
        kind: &str,
        _selector: &Selector,
    ) -> Result<Vec<Value>, ClusterError> {
        Err(ClusterError::Unavailable(format!(
            "the recording cluster cannot list {kind} in {namespace}"
        )))
    }
}

/// Gives every job the same recording cluster, whatever its snapshot names.
pub struct ConnectTo(pub Arc<RecordingCluster>);

impl ConnectCluster for ConnectTo {
    fn connect(
        &self,
        _cluster: &ClusterFacts,
        _project: &NamedFacts,
    ) -> Result<Arc<dyn Cluster>, String> {
        Ok(self.0.clone())
    }
}
