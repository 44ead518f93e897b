//! The job engine: workers that claim jobs and run them, the live event hub, and the reporter
//! that tells deployment-svc how jobs ended.

pub mod clusters;
mod executor;
pub mod hub;
mod reporter;
mod steps;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

pub use self::reporter::DeploymentClient;
use self::{
    clusters::ClusterProvider,
    executor::{Interruption, JobRun},
    hub::EventHub,
};
use crate::{config::RunnerSettings, domain::template::Templates, store::jobs::SeaJobStore};

/// What the workers, the reporter and the gRPC handlers share.
pub struct Engine {
    pub(crate) store: SeaJobStore,
    pub(crate) hub: EventHub,
    pub(crate) templates: Arc<Templates>,
    clusters: ClusterProvider,
    settings: RunnerSettings,
    owner: String,
    /// Wakes idle workers when a job is queued in this process.
    queued: Notify,
    /// Wakes the reporter when a job ends in this process.
    ended: Notify,
    /// Jobs running in this process, to cancel them at once.
    running: Mutex<HashMap<String, Running>>,
    deployments: Option<DeploymentClient>,
}

struct Running {
    stop: CancellationToken,
    interruption: Arc<Mutex<Option<Interruption>>>,
}

impl Engine {
    /// An engine over `store`; `deployments` receives job outcomes (none: they stay queued).
    pub fn new(
        store: SeaJobStore,
        templates: Arc<Templates>,
        settings: RunnerSettings,
        deployments: Option<DeploymentClient>,
    ) -> Arc<Self> {
        Arc::new(Self {
            hub: EventHub::new(store.clone(), settings.poll_interval),
            clusters: ClusterProvider::new(&settings),
            owner: format!("runner-{}", uuid::Uuid::new_v4().simple()),
            store,
            templates,
            settings,
            queued: Notify::new(),
            ended: Notify::new(),
            running: Mutex::default(),
            deployments,
        })
    }

    /// The store of jobs.
    pub fn store(&self) -> &SeaJobStore {
        &self.store
    }

    /// The live event hub.
    pub fn hub(&self) -> &EventHub {
        &self.hub
    }

    /// How often idle watch streams get a heartbeat.
    pub fn heartbeat_interval(&self) -> std::time::Duration {
        self.settings.heartbeat_interval
    }

    /// Tells idle workers that a job was queued.
    pub fn job_queued(&self) {
        // One worker per job: waking them all would have the others race for it in vain.
        self.queued.notify_one();
    }

    /// Stops job `id` at once if this process runs it (other replicas notice the database flag
    /// at their next lease renewal).
    pub fn cancel_local(&self, id: &str) {
        if let Some(running) = self.running.lock().expect("lock").get(id) {
            *running.interruption.lock().expect("lock") = Some(Interruption::Cancelled);
            running.stop.cancel();
        }
    }

    /// Starts the workers and the reporter; they stop when `shutdown` is cancelled.
    pub fn start(self: &Arc<Self>, shutdown: CancellationToken) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for worker in 0..self.settings.workers {
            tasks.spawn(self.clone().work(worker, shutdown.clone()));
        }
        tasks.spawn(self.clone().report(shutdown));
        tasks
    }

    async fn work(self: Arc<Self>, worker: usize, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let queued = self.queued.notified();
            match self
                .store
                .claim(&self.owner, self.settings.lease_ttl, Utc::now())
                .await
            {
                Ok(Some(claim)) => {
                    tracing::info!(worker, job = %claim.job.name, takeover = claim.takeover, "job claimed");
                    self.hub.wake(&claim.job.id);
                    self.run_claimed(claim, &shutdown).await;
                }
                Ok(None) => {
                    tokio::select! {
                        () = queued => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Err(err) => {
                    tracing::error!(worker, error = %err, "cannot claim jobs");
                    tokio::select! {
                        () = tokio::time::sleep(self.settings.poll_interval * 4) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn run_claimed(
        self: &Arc<Self>,
        claim: crate::store::jobs::Claim,
        shutdown: &CancellationToken,
    ) {
        let id = claim.job.id.clone();
        let stop = shutdown.child_token();
        let interruption = Arc::new(Mutex::new(
            claim.cancel_requested.then_some(Interruption::Cancelled),
        ));
        if claim.cancel_requested {
            stop.cancel();
        }
        self.running.lock().expect("lock").insert(
            id.clone(),
            Running {
                stop: stop.clone(),
                interruption: interruption.clone(),
            },
        );
        let keeper = tokio::spawn(self.clone().keep_lease(
            claim.lease.clone(),
            stop.clone(),
            interruption.clone(),
        ));

        let run = JobRun {
            engine: self,
            lease: claim.lease,
            stop: stop.clone(),
            interruption,
        };
        let outcome = run.run(&claim.job, claim.started_step).await;
        keeper.abort();
        self.running.lock().expect("lock").remove(&id);
        match outcome {
            Ok(()) => {
                tracing::info!(job = %claim.job.name, "job ended");
                self.ended.notify_one();
            }
            Err(interruption) => {
                tracing::warn!(job = %claim.job.name, ?interruption, "job left to another worker")
            }
        }
    }

    /// Renews the lease until the job ends; stops the run when the lease is lost or the job is
    /// cancelled from another replica.
    async fn keep_lease(
        self: Arc<Self>,
        lease: crate::store::jobs::Lease,
        stop: CancellationToken,
        interruption: Arc<Mutex<Option<Interruption>>>,
    ) {
        let period = self.settings.lease_ttl / 3;
        loop {
            tokio::select! {
                () = tokio::time::sleep(period.min(self.settings.cancel_check_interval)) => {}
                () = stop.cancelled() => return,
            }
            let until = Utc::now()
                + chrono::Duration::from_std(self.settings.lease_ttl).unwrap_or_default();
            let why = match self.store.renew(&lease, until).await {
                Ok(false) => continue,
                Ok(true) => Interruption::Cancelled,
                Err(crate::store::jobs::WriteError::Fenced) => Interruption::LostLease,
                Err(crate::store::jobs::WriteError::Store(err)) => {
                    tracing::warn!(job = %lease.job_id, error = %err, "cannot renew the lease");
                    continue;
                }
            };
            interruption.lock().expect("lock").get_or_insert(why);
            stop.cancel();
            return;
        }
    }

    async fn report(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(deployments) = self.deployments.clone() else {
            tracing::warn!(
                "peers.deployment is not set: job outcomes are kept until a runner with it reports them"
            );
            return;
        };
        reporter::run(self, deployments, shutdown).await;
    }
}
