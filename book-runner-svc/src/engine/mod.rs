//! The job engine: workers that claim jobs and run them, the live event hub, and the reporter
//! that tells deployment-svc how jobs ended.

pub mod clusters;
mod executor;
pub mod hub;
mod lease;
pub(crate) mod metrics;
mod reporter;
mod steps;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use chrono::Utc;
use tokio::{
    sync::{Notify, mpsc},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

pub use self::reporter::DeploymentClient;
use self::{
    clusters::ClusterProvider,
    executor::{Interruption, JobRun},
    hub::EventHub,
    lease::LeaseDeadline,
};
use crate::{
    cluster::Cluster,
    config::RunnerSettings,
    domain::{
        job::Outcome,
        snapshot::{ClusterFacts, NamedFacts},
        template::Templates,
    },
    store::jobs::{Lease, SeaJobStore, WriteError},
};

/// Where jobs get the driver of each of their clusters.
pub trait ConnectCluster: Send + Sync {
    /// The driver for `cluster` as a job of `project` uses it, or why there is none.
    fn connect(
        &self,
        cluster: &ClusterFacts,
        project: &NamedFacts,
    ) -> Result<Arc<dyn Cluster>, String>;
}

impl ConnectCluster for ClusterProvider {
    fn connect(
        &self,
        cluster: &ClusterFacts,
        project: &NamedFacts,
    ) -> Result<Arc<dyn Cluster>, String> {
        ClusterProvider::connect(self, cluster, project)
    }
}

/// What the workers, the reporter and the gRPC handlers share.
pub struct Engine {
    pub(crate) store: SeaJobStore,
    pub(crate) hub: EventHub,
    pub(crate) templates: Arc<Templates>,
    clusters: Arc<dyn ConnectCluster>,
    settings: RunnerSettings,
    owner: String,
    /// Wakes an idle worker for each job queued (here, or on any replica on PostgreSQL).
    queued: Notify,
    /// Wakes an idle worker to look for work no job signal announced: leases that expired, or
    /// signals that were lost. A worker woken so that finds a job wakes another.
    look: Notify,
    /// Whether the database tells every replica of each new job (PostgreSQL, once listening).
    signalled: AtomicBool,
    /// Jobs queued here whose workers were woken at once, not yet matched by the database's
    /// signal of a new job: that many signals are taken as already acted on, so a job queued
    /// here wakes one worker here, not two (see [`Engine::job_queued`]).
    announced: AtomicUsize,
    /// The outcomes of jobs that ended in this process, to the reporter: it delivers them
    /// without reading them back. Bounded: one that does not fit waits for the reporter's
    /// next look at the table.
    ended: mpsc::Sender<Outcome>,
    /// The reporter's end of `ended`, taken when it starts.
    ended_outcomes: Mutex<Option<mpsc::Receiver<Outcome>>>,
    /// Jobs running in this process, to cancel them at once.
    running: Mutex<HashMap<String, Running>>,
    /// Told whenever a job stops running in this process, for [`Engine::drain`].
    left: Notify,
    /// Cancelled when the process begins to stop: no job is claimed from then on.
    draining: CancellationToken,
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
        let clusters = Arc::new(ClusterProvider::new(&settings));
        Self::with_clusters(store, templates, settings, deployments, clusters)
    }

    /// An engine whose jobs reach their clusters through `clusters` (tests pass their own).
    pub fn with_clusters(
        store: SeaJobStore,
        templates: Arc<Templates>,
        settings: RunnerSettings,
        deployments: Option<DeploymentClient>,
        clusters: Arc<dyn ConnectCluster>,
    ) -> Arc<Self> {
        let (ended, ended_outcomes) = mpsc::channel(reporter::HANDED_OVER);
        Arc::new(Self {
            hub: EventHub::new(store.clone(), settings.poll_interval),
            clusters,
            owner: lease_owner_name(),
            store,
            templates,
            settings,
            queued: Notify::new(),
            look: Notify::new(),
            signalled: AtomicBool::new(false),
            announced: AtomicUsize::new(0),
            ended,
            ended_outcomes: Mutex::new(Some(ended_outcomes)),
            running: Mutex::default(),
            left: Notify::new(),
            draining: CancellationToken::new(),
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

    /// Tells idle workers that a job was queued in this process, at once: the database's
    /// signal of it comes a round trip later, and is then taken as already acted on (see
    /// `announced`). Signals carry no origin, so the one skipped may be another job's; each
    /// job still wakes one worker per replica, only sooner here.
    pub fn job_queued(&self) {
        if self.signalled.load(Ordering::Relaxed) {
            self.announced.fetch_add(1, Ordering::Relaxed);
        }
        // One worker per job: waking them all would have the others race for it in vain.
        self.queued.notify_one();
    }

    /// Acts on the database's signal of a new job, unless a job queued here already woke a
    /// worker for it.
    fn job_signalled(&self) {
        let already_woken = self
            .announced
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |announced| {
                announced.checked_sub(1)
            })
            .is_ok();
        if !already_woken {
            self.queued.notify_one();
        }
    }

    /// Gives the reporter the outcome of a job that just ended here.
    fn hand_over(&self, outcome: Outcome) {
        // Full (the reporter is behind) or closed (no reporter): the outcome is in the table,
        // owed, and the reporter's look finds it there.
        let _ = self.ended.try_send(outcome);
    }

    /// Stops job `id` at once if this process runs it (other replicas notice the database flag
    /// at their next lease renewal).
    pub fn cancel_local(&self, id: &str) {
        if let Some(running) = self.running.lock().expect("lock").get(id) {
            *running.interruption.lock().expect("lock") = Some(Interruption::Cancelled);
            running.stop.cancel();
        }
    }

    /// Stops claiming jobs, then waits until the jobs running in this process end, for `grace`
    /// at most: a stopping replica lets its jobs finish rather than leave them to wait for
    /// their leases to expire. What still runs then is interrupted when the workers' shutdown
    /// comes, and handed back at once (see [`Engine::start`]).
    pub async fn drain(&self, grace: std::time::Duration) {
        self.draining.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            // Created before the look, so that a job leaving in between is not missed.
            let left = self.left.notified();
            let running = self.running.lock().expect("lock").len();
            if running == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, left).await.is_err() {
                tracing::warn!(
                    running,
                    ?grace,
                    "jobs still running after the shutdown grace: handing them back"
                );
                return;
            }
        }
    }

    /// Starts the workers and the reporter; they stop when `shutdown` is cancelled. A job
    /// interrupted by the shutdown is handed back (its lease ends now), so that another replica
    /// takes it over at once instead of after the lease's time.
    pub fn start(self: &Arc<Self>, shutdown: CancellationToken) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for worker in 0..self.settings.workers {
            tasks.spawn(self.clone().work(worker, shutdown.clone()));
        }
        tasks.spawn(self.clone().sweep(shutdown.clone()));
        tasks.spawn(metrics::sample_jobs(self.store.clone(), shutdown.clone()));
        tasks.spawn(self.clone().report(shutdown));
        tasks
    }

    async fn work(self: Arc<Self>, worker: usize, shutdown: CancellationToken) {
        let mut looking = false;
        while !shutdown.is_cancelled() && !self.draining.is_cancelled() {
            let (queued, look) = (self.queued.notified(), self.look.notified());
            // The local deadline of a lease counts from before it was asked for.
            let asked = Instant::now();
            match self
                .store
                .claim(&self.owner, self.settings.lease_ttl, Utc::now())
                .await
            {
                Ok(Some(claim)) => {
                    // Work nobody announced comes in batches (a replica died with its jobs, a
                    // burst of lost signals), and so do jobs queued while every worker was busy
                    // (their signals came to nobody): another idle worker looks too, and so on
                    // while they find some.
                    if looking || claim.takeover || claim.more_claimable {
                        self.look.notify_one();
                    }
                    let more = claim.more_claimable;
                    tracing::info!(worker, job = %claim.job.name, takeover = claim.takeover, "job claimed");
                    metrics::job_claimed(&claim);
                    self.hub.wake(&claim.job.id);
                    self.run_claimed(claim, asked, &shutdown).await;
                    // Nothing else was claimable at the claim: a job queued since then was
                    // signalled after it, so the worker waits for that signal rather than make
                    // an empty claim after every job.
                    looking = !more && self.idle(queued, look, &shutdown).await;
                }
                Ok(None) => looking = self.idle(queued, look, &shutdown).await,
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

    /// Waits until woken: by a job queued here or on another replica (`queued`), or a look
    /// (`look`, which it returns true for). Both were created before the claim that found
    /// nothing more, so that no signal since then is missed.
    async fn idle(
        &self,
        queued: tokio::sync::futures::Notified<'_>,
        look: tokio::sync::futures::Notified<'_>,
        shutdown: &CancellationToken,
    ) -> bool {
        tokio::select! {
            () = queued => false,
            () = look => true,
            () = shutdown.cancelled() => false,
            () = self.draining.cancelled() => false,
        }
    }

    /// Every `poll_interval`, wakes one idle worker to look for work no signal announces: a
    /// lease that expired (its worker died) or a signal that was lost. One look per interval
    /// for the whole process, not one per idle worker.
    async fn sweep(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => self.look.notify_one(),
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Acts on the jobs' signals from every replica (PostgreSQL's `NOTIFY`, see
    /// [`SeaJobStore::signals_channel`]): a job queued or handed back wakes an idle worker, a
    /// job's new events wake its watchers' follower. After signals may have been missed, both.
    pub async fn wake_on(
        self: Arc<Self>,
        changes: Arc<eyrie_platform::changes::Changes>,
        shutdown: CancellationToken,
    ) {
        use eyrie_platform::changes::Signal;
        let mut signals = changes.subscribe();
        loop {
            let signal = tokio::select! {
                signal = signals.next() => signal,
                () = shutdown.cancelled() => return,
            };
            match signal {
                Some(Signal::Changed(job)) if job.is_empty() => self.job_signalled(),
                Some(Signal::Changed(job)) => self.hub.wake(&job),
                // Listening (again): from now on every new job is signalled; what was missed
                // meanwhile is looked for.
                Some(Signal::Resync) => {
                    self.signalled.store(true, Ordering::Relaxed);
                    // Signals of jobs announced here may be among the missed ones.
                    self.announced.store(0, Ordering::Relaxed);
                    self.look.notify_one();
                    self.hub.wake_all();
                }
                None => return,
            }
        }
    }

    async fn run_claimed(
        self: &Arc<Self>,
        claim: crate::store::jobs::Claim,
        asked: Instant,
        shutdown: &CancellationToken,
    ) {
        let id = claim.job.id.clone();
        let deadline = LeaseDeadline::new(asked, self.settings.lease_ttl);
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
            deadline.clone(),
            stop.clone(),
            interruption.clone(),
        ));

        let run = JobRun {
            engine: self,
            lease: claim.lease,
            deadline,
            stop: stop.clone(),
            interruption,
        };
        let lease = run.lease.clone();
        let outcome = run.run(&claim.job, claim.started_step).await;
        keeper.abort();
        match outcome {
            Ok(ended) => {
                tracing::info!(job = %claim.job.name, "job ended");
                if let Some(ended) = ended {
                    self.hand_over(Outcome::of(
                        &claim.job,
                        ended.status,
                        ended.message,
                        ended.at,
                    ));
                }
            }
            Err(interruption) if shutdown.is_cancelled() => {
                // The run has stopped writing: another replica may take the job now.
                match self.store.release(&lease, Utc::now()).await {
                    Ok(()) => tracing::info!(job = %claim.job.name, "job handed back at shutdown"),
                    Err(err) => {
                        tracing::warn!(job = %claim.job.name, ?interruption, error = %err, "job left to another worker when its lease expires")
                    }
                }
            }
            Err(interruption) => {
                tracing::warn!(job = %claim.job.name, ?interruption, "job left to another worker")
            }
        }
        self.running.lock().expect("lock").remove(&id);
        self.left.notify_waiters();
    }

    /// Renews the lease until the job ends; stops the run when the lease is lost, when its
    /// local deadline passes without a successful renewal (however the renewals failed or
    /// stalled), or when the job is cancelled from another replica.
    async fn keep_lease(
        self: Arc<Self>,
        lease: Lease,
        deadline: Arc<LeaseDeadline>,
        stop: CancellationToken,
        interruption: Arc<Mutex<Option<Interruption>>>,
    ) {
        let ttl = self.settings.lease_ttl;
        let period = (ttl / 3).min(self.settings.cancel_check_interval);
        let why = loop {
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = deadline.expired() => break Interruption::LostLease,
                () = stop.cancelled() => return,
            }
            // Both clocks are read before the request leaves: the database's expiry then lies
            // beyond the local deadline, whatever the request's delay.
            let sent = Instant::now();
            let until = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
            let renewed = tokio::select! {
                renewed = self.store.renew(&lease, until) => renewed,
                // A renewal that stalls past the deadline leaves the run no time.
                () = deadline.expired() => break Interruption::LostLease,
                () = stop.cancelled() => return,
            };
            match renewed {
                Ok(cancel_requested) => {
                    deadline.renewed(sent);
                    if cancel_requested {
                        break Interruption::Cancelled;
                    }
                }
                Err(WriteError::Fenced) => break Interruption::LostLease,
                Err(WriteError::Store(err)) => {
                    // Not renewed: the deadline stays where it was, and the next attempt comes
                    // after the same period. Without one that succeeds, the run stops in time.
                    tracing::warn!(
                        job = %lease.job_id,
                        error = %err,
                        stops_in = ?deadline.remaining(),
                        "cannot renew the lease; the job stops at its local deadline unless a renewal succeeds first"
                    );
                }
            }
        };
        if why == Interruption::LostLease {
            tracing::warn!(job = %lease.job_id, "lease lost or not renewed in time: stopping the job's cluster work");
        }
        interruption.lock().expect("lock").get_or_insert(why);
        stop.cancel();
    }

    async fn report(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(deployments) = self.deployments.clone() else {
            tracing::warn!(
                "peers.deployment is not set: job outcomes are kept until a runner with it reports them"
            );
            return;
        };
        let Some(ended) = self.ended_outcomes.lock().expect("lock").take() else {
            return;
        };
        reporter::run(self, deployments, ended, shutdown).await;
    }
}

/// This engine's name on the leases it holds: the host (a pod's name), the process and a random
/// part, so that an operator reading the jobs table (or a test watching processes) can tell
/// which replica holds a job, and two engines of one process never share a name.
fn lease_owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}/{}/{}", std::process::id(), &random[..12])
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    async fn engine() -> Arc<Engine> {
        let db = eyrie_platform::db::connect(&eyrie_platform::DatabaseSettings::with_url(
            "sqlite::memory:".to_owned(),
        ))
        .await
        .unwrap();
        Engine::new(
            SeaJobStore::new(db),
            Arc::new(Templates::default()),
            RunnerSettings::default(),
            None,
        )
    }

    fn woken(engine: &Engine) -> bool {
        engine.queued.notified().now_or_never().is_some()
    }

    /// A job queued here wakes a worker here at once, and its database signal, coming later,
    /// wakes no second one; a signal nothing here announced (another replica's job) wakes one.
    #[tokio::test]
    async fn a_job_queued_here_wakes_one_worker_here_however_it_is_signalled() {
        let engine = engine().await;
        engine.signalled.store(true, Ordering::Relaxed);

        engine.job_queued();
        assert!(woken(&engine), "woken at once");
        engine.job_signalled();
        assert!(!woken(&engine), "the job's own signal was already acted on");
        engine.job_signalled();
        assert!(woken(&engine), "another replica's job wakes a worker");

        // Two jobs queued here, their signals after: two wakes, no more.
        engine.job_queued();
        assert!(woken(&engine));
        engine.job_queued();
        assert!(woken(&engine));
        engine.job_signalled();
        engine.job_signalled();
        assert!(!woken(&engine));
    }

    /// Without the database's signals (SQLite, or before listening), every job queued here
    /// wakes a worker and nothing is counted against later signals.
    #[tokio::test]
    async fn without_signals_each_job_queued_here_wakes_a_worker() {
        let engine = engine().await;
        engine.job_queued();
        assert!(woken(&engine));
        engine.signalled.store(true, Ordering::Relaxed);
        engine.job_signalled();
        assert!(woken(&engine), "nothing was announced while unsignalled");
    }
}
