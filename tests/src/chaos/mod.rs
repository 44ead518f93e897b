//! A soak under faults: the whole fleet, two replicas of everything on one PostgreSQL, runs a
//! load of deployments cycling through their lifecycle while replicas are killed and restarted,
//! one is frozen past its leases, and (when asked) PostgreSQL itself restarts. Then it checks
//! that nothing was lost, duplicated or left stuck, and that the frozen replica wrote nothing
//! for the jobs it lost (a kernel record of the clusters' writes shows it), and reports what it
//! held.

mod fleet;
mod late_writes;
mod load;
mod recorder;
mod runner_jobs;

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use eyrie_proto::v1 as pb;
use tokio::sync::Mutex;

pub use fleet::{Fleet, postgres_url};
use late_writes::{Findings, Freeze};
use load::{Clients, Followed, Outcome};
use recorder::Recorder;

/// How big and how rough a run is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Projects, each with one group of deployments, each deployment on a cluster folder of its
    /// own.
    pub projects: usize,
    /// Deployments per project.
    pub deployments: usize,
    /// Lifecycle cycles per deployment (deploy, new image, pause, deploy).
    pub cycles: usize,
    /// Time between two kills of a random replica.
    pub kill_every: Duration,
    /// Restart PostgreSQL once, midway (it stops every client of the machine's server).
    pub restart_postgres: bool,
    /// Seed of the fault schedule, printed so that a run can be replayed.
    pub seed: u64,
}

impl Plan {
    /// The short run CI makes, unless `EYRIE_CHAOS_*` variables say otherwise.
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(default)
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64);
        Self {
            projects: number("EYRIE_CHAOS_PROJECTS", 3) as usize,
            deployments: number("EYRIE_CHAOS_DEPLOYMENTS", 2) as usize,
            cycles: number("EYRIE_CHAOS_CYCLES", 3) as usize,
            kill_every: Duration::from_millis(number("EYRIE_CHAOS_KILL_EVERY_MS", 1500)),
            restart_postgres: number("EYRIE_CHAOS_RESTART_POSTGRES", 0) == 1,
            seed: number("EYRIE_CHAOS_SEED", seed),
        }
    }
}

/// What a run held and found.
#[derive(Debug, Default)]
pub struct Report {
    /// How long the load ran.
    pub duration: Duration,
    /// Deployments cycled.
    pub deployments: usize,
    /// Operations that ended succeeded.
    pub operations: usize,
    /// Jobs run.
    pub jobs: usize,
    /// Job followers (watchers that resumed after every break).
    pub watchers: usize,
    /// Group watchers (WatchDeployments), one per group for the whole run.
    pub group_watchers: usize,
    /// Times a watcher opened its stream again.
    pub resumes: usize,
    /// Calls retried after a transient failure.
    pub retries: usize,
    /// Replicas killed (SIGKILL) and restarted.
    pub kills: Vec<String>,
    /// Replicas stopped (SIGTERM, as a rollout) and restarted.
    pub rollouts: Vec<String>,
    /// Replicas frozen (SIGSTOP) past their lease.
    pub pauses: Vec<String>,
    /// PostgreSQL restarts.
    pub database_restarts: usize,
    /// What the frozen runner did to the clusters of the jobs it lost, when it was recorded.
    pub frozen_writes: Option<(Freeze, Findings)>,
    /// Why the clusters' writes were not recorded, if they were not.
    pub unrecorded: Option<String>,
    /// What was lost, duplicated or stuck: must stay empty.
    pub problems: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.duration.as_secs_f64().max(0.001);
        writeln!(f, "chaos run: {:.1} s", seconds)?;
        writeln!(
            f,
            "  load: {} deployments, {} operations ({:.2}/s), {} jobs, {} job watchers and {} group watchers ({} resumes), {} calls retried",
            self.deployments,
            self.operations,
            self.operations as f64 / seconds,
            self.jobs,
            self.watchers,
            self.group_watchers,
            self.resumes,
            self.retries
        )?;
        writeln!(
            f,
            "  faults: {} kills ({}), {} rollouts ({}), {} pauses ({}), {} database restarts",
            self.kills.len(),
            self.kills.join(" "),
            self.rollouts.len(),
            self.rollouts.join(" "),
            self.pauses.len(),
            self.pauses.join(" "),
            self.database_restarts
        )?;
        match (&self.frozen_writes, &self.unrecorded) {
            (Some((freeze, findings)), _) => writeln!(
                f,
                "  frozen runner: held {} jobs, {} taken over before it woke; on their clusters it started {} writes before the freeze, {} landed after it woke (in flight), {} started after its lease was gone",
                freeze.held,
                freeze.lost.len(),
                findings.before,
                findings.in_flight,
                findings.late.len()
            )?,
            (None, Some(why)) => writeln!(f, "  clusters' writes not recorded: {why}")?,
            (None, None) => writeln!(f, "  no runner was frozen")?,
        }
        writeln!(f, "  lost, duplicated or stuck: {}", self.problems.len())?;
        for problem in &self.problems {
            writeln!(f, "    - {problem}")?;
        }
        Ok(())
    }
}

/// Runs `plan` against a fleet on the PostgreSQL database `url`.
pub async fn run(plan: &Plan, url: &str) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let fleet = Arc::new(Mutex::new(Fleet::start(url, dir.path()).await?));
    let token = crate::auth::admin_token(dir.path());
    let clients = Clients::new(&fleet.lock().await.gateways(), &token)?;
    let clusters = dir.path().join("clusters");
    let deployments = set_up(&clients, plan, &clusters).await?;
    // The clusters' controllers run here, apart from the runners, so that every write the
    // record attributes to a runner is one of its jobs' steps.
    let _controllers = crate::journey::Controllers::start(&clusters);
    let lock_files: Vec<PathBuf> = deployments
        .iter()
        .map(|deployment| {
            deployment
                .folder
                .join(eyrie_book_runner_svc::cluster::directory::LOCK_FILE)
        })
        .collect();
    let (recorder, unrecorded) = match Recorder::start(&lock_files) {
        Ok(recorder) => (Some(Arc::new(recorder)), None),
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            return Err(error.context("CI records the clusters' writes"));
        }
        Err(error) => (None, Some(format!("{error:#}"))),
    };
    let folders: HashMap<String, PathBuf> = deployments
        .iter()
        .map(|deployment| (deployment.name.clone(), deployment.folder.clone()))
        .collect();
    let jobs = runner_jobs::RunnerJobs::new(url, fleet.lock().await.runner_schema());
    // One watcher per group, through the gateways, for the whole run.
    let watching = tokio_util::sync::CancellationToken::new();
    let mut groups = Vec::new();
    for p in 0..plan.projects {
        let seen = Arc::new(std::sync::Mutex::new(load::GroupSeen::default()));
        let group = format!("projects/chaos{p}/groups/web");
        let task = tokio::spawn(load::watch_group(
            clients.clone(),
            group.clone(),
            seen.clone(),
            watching.clone(),
        ));
        groups.push((group, seen, task));
    }

    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn(inject_faults(
        fleet.clone(),
        plan.clone(),
        done.clone(),
        Freezer {
            recorder: recorder.clone(),
            jobs: jobs.clone(),
            folders,
        },
    ));
    let cycles = deployments.iter().map(|deployment| {
        let clients = clients.clone();
        let (name, image, cycles) = (
            deployment.name.clone(),
            deployment.image.clone(),
            plan.cycles,
        );
        tokio::spawn(async move {
            let outcome = load::cycle(&clients, &name, &image, cycles).await;
            (name, outcome)
        })
    });
    let outcomes = futures::future::join_all(cycles).await;
    done.store(true, Ordering::SeqCst);
    let Faults {
        kills,
        rollouts,
        pauses,
        database_restarts,
        freeze,
    } = faults.await.context("the fault injector")??;

    let mut report = Report {
        duration: started.elapsed(),
        deployments: deployments.len(),
        retries: clients.retries.load(Ordering::Relaxed),
        kills,
        rollouts,
        pauses,
        database_restarts,
        unrecorded,
        ..Report::default()
    };
    if let (Some(mut freeze), Some(recorder)) = (freeze, recorder) {
        jobs.read_ends(&mut freeze.lost).await?;
        let findings = late_writes::find(&freeze, &recorder.opened()?);
        report.problems.extend(findings.late.iter().cloned());
        report.frozen_writes = Some((freeze, findings));
    }
    let mut finals = Vec::new();
    for joined in outcomes {
        let (name, outcome) = joined.context("a deployment's load")?;
        match outcome {
            Ok(outcome) => {
                let revision = check_deployment(&clients, &name, outcome, &mut report).await?;
                finals.push((name, revision));
            }
            Err(error) => report.problems.push(format!("{name}: {error:#}")),
        }
    }
    check_group_watchers(&groups, &finals, &mut report).await;
    watching.cancel();
    for (_, _, task) in groups {
        task.await.context("a group watcher")?;
    }
    Ok(report)
}

/// A group, what its watcher saw, and the watcher.
type GroupWatcher = (
    String,
    Arc<std::sync::Mutex<load::GroupSeen>>,
    tokio::task::JoinHandle<()>,
);

/// Each group's watcher must have seen every deployment's revisions in order (a reopened
/// stream may repeat the current one, never go back), and reach its final revision.
async fn check_group_watchers(
    groups: &[GroupWatcher],
    finals: &[(String, i64)],
    report: &mut Report,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (group, seen) in groups.iter().map(|(group, seen, _)| (group, seen)) {
        report.group_watchers += 1;
        let members: Vec<&(String, i64)> = finals
            .iter()
            .filter(|(name, _)| name.starts_with(&format!("{group}/")))
            .collect();
        loop {
            let caught_up = {
                let seen = seen.lock().unwrap();
                members.iter().all(|(name, last)| {
                    seen.revisions.get(name).and_then(|r| r.last()) == Some(last)
                })
            };
            if caught_up {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                report.problems.push(format!(
                    "the watcher of {group} never saw the final revisions"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let seen = seen.lock().unwrap();
        report.resumes += seen.resumes;
        for (name, revisions) in &seen.revisions {
            if revisions.windows(2).any(|pair| pair[1] < pair[0]) {
                report.problems.push(format!(
                    "the watcher of {group} saw {name} go back: {revisions:?}"
                ));
            }
        }
    }
}

/// A deployment of the load.
struct Deployment {
    /// Its resource name.
    name: String,
    /// Its first image.
    image: String,
    /// Its cluster's folder, which no other deployment uses.
    folder: PathBuf,
}

/// Projects with a scope and a group of `plan.deployments` deployments each, every deployment
/// on a directory cluster of its own under `clusters` (lock file made, so that it can be
/// watched from the start).
async fn set_up(
    clients: &Clients,
    plan: &Plan,
    clusters: &Path,
) -> anyhow::Result<Vec<Deployment>> {
    let mut gateway = clients.pick();
    let mut deployments = Vec::new();
    for p in 0..plan.projects {
        let project = format!("projects/chaos{p}");
        gateway
            .create_project(&format!("chaos{p}"), "Chaos")
            .await?;
        gateway.create_scope(&project, "dev", "Dev", true).await?;
        gateway
            .create_group(&project, "web", pb::DeploymentType::None)
            .await?;
        for d in 0..plan.deployments {
            let folder = clusters.join(format!("chaos{p}-d{d}"));
            std::fs::create_dir_all(&folder)?;
            std::fs::File::create(
                folder.join(eyrie_book_runner_svc::cluster::directory::LOCK_FILE),
            )?;
            let cluster = gateway.request(pb::CreateClusterRequest {
                parent: project.clone(),
                cluster_id: format!("d{d}"),
                cluster: Some(pb::Cluster {
                    display_name: format!("Folder of d{d}"),
                    connection: Some(pb::cluster::Connection::Directory(
                        pb::DirectoryConnection {
                            path: folder.display().to_string(),
                            simulated: false,
                        },
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            });
            gateway.deployments.create_cluster(cluster).await?;
            let image = "nginx:1.27".to_owned();
            let request = gateway.request(pb::CreateDeploymentRequest {
                parent: format!("{project}/groups/web"),
                deployment_id: format!("d{d}"),
                deployment: Some(pb::Deployment {
                    display_name: format!("D{d}"),
                    scope: format!("{project}/scopes/dev"),
                    clusters: vec![format!("{project}/clusters/d{d}")],
                    image: image.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let created = gateway
                .deployments
                .create_deployment(request)
                .await?
                .into_inner();
            deployments.push(Deployment {
                name: created.name,
                image,
                folder,
            });
        }
    }
    Ok(deployments)
}

/// The faults injected, by kind.
#[derive(Debug, Default)]
struct Faults {
    kills: Vec<String>,
    rollouts: Vec<String>,
    pauses: Vec<String>,
    database_restarts: usize,
    freeze: Option<Freeze>,
}

/// What freezing a runner needs to know, to check it afterwards.
struct Freezer {
    /// The record of the clusters' writes, if it is kept.
    recorder: Option<Arc<Recorder>>,
    /// The runners' jobs table.
    jobs: runner_jobs::RunnerJobs,
    /// Each deployment's cluster folder.
    folders: HashMap<String, PathBuf>,
}

impl Freezer {
    /// Freezes the runner that holds the most jobs past its lease (twice its length, and until
    /// another runner took its jobs over), then wakes it; returns what the record needs to check
    /// it.
    async fn freeze_a_runner(
        &self,
        fleet: &Fleet,
        quiet_for: Duration,
    ) -> anyhow::Result<(String, Option<Freeze>)> {
        let held = self.jobs.held_by_process().await.unwrap_or_default();
        let runner = fleet
            .replicas
            .iter()
            .filter(|replica| replica.service == "book-runner-svc")
            .max_by_key(|replica| {
                replica
                    .pid()
                    .map_or(0, |pid| held.iter().filter(|job| job.pid == pid).count())
            })
            .context("a runner")?;
        let pid = runner.pid().context("the runner is not running")?;
        runner.freeze().await?;
        let Some(recorder) = &self.recorder else {
            tokio::time::sleep(fleet::LEASE * 2).await;
            runner.thaw()?;
            return Ok((runner.label(), None));
        };
        // Stopped: the jobs it holds can no longer change hands to it, and every write it
        // started is in the record before this barrier.
        let frozen_index = recorder.barrier()?;
        let holding = self.jobs.held_by(pid).await?;
        tokio::time::sleep(fleet::LEASE * 2).await;
        // Frozen on until another runner took every job over (it may be busy with jobs of its
        // own first), so that the woken runner's leases are all gone; half a minute at most.
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut lost_ids = self.jobs.taken_from(pid, &holding).await?;
        while lost_ids.len() < holding.len() && tokio::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(200)).await;
            lost_ids = self.jobs.taken_from(pid, &holding).await?;
        }
        let woke_index = recorder.barrier()?;
        let woke_at = std::time::SystemTime::now();
        runner.thaw()?;
        let lost = holding
            .iter()
            .filter(|job| lost_ids.contains(&job.id))
            .filter_map(|job| {
                Some(late_writes::LostJob {
                    job: job.id.clone(),
                    folder: self.folders.get(&job.deployment)?.clone(),
                    ended_at: None,
                })
            })
            .collect();
        let freeze = Freeze {
            pid: i32::try_from(pid)?,
            frozen_index,
            woke_index,
            woke_at,
            quiet_for,
            held: holding.len(),
            lost,
        };
        Ok((runner.label(), Some(freeze)))
    }
}

/// Every `plan.kill_every`, stops a random replica and starts it again at once: killed
/// (SIGKILL, a crash) or, every other time, stopped (SIGTERM, a rollout). Once, freezes a
/// runner past its lease; once, when asked, restarts PostgreSQL. Until `done`.
async fn inject_faults(
    fleet: Arc<Mutex<Fleet>>,
    plan: Plan,
    done: Arc<AtomicBool>,
    freezer: Freezer,
) -> anyhow::Result<Faults> {
    let mut random = plan.seed.max(1);
    let mut next = move || {
        // xorshift64: enough to spread faults, and replayable from the seed.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let mut faults = Faults::default();
    let mut round = 0u64;
    while !done.load(Ordering::SeqCst) {
        tokio::time::sleep(plan.kill_every).await;
        if done.load(Ordering::SeqCst) {
            break;
        }
        round += 1;
        let mut fleet = fleet.lock().await;
        if round == 2 {
            // A runner frozen past its lease: another takes its jobs; once it thaws, it must
            // not write for them. The next fault comes `kill_every` after it woke at the
            // soonest, which bounds how long those jobs stay out of its hands.
            let (label, freeze) = freezer.freeze_a_runner(&fleet, plan.kill_every).await?;
            faults.pauses.push(label);
            faults.freeze = freeze;
            continue;
        }
        if round == 3 && plan.restart_postgres {
            restart_postgres().await?;
            faults.database_restarts += 1;
            continue;
        }
        let count = fleet.replicas.len() as u64;
        let replica = &mut fleet.replicas[(next() % count) as usize];
        if round.is_multiple_of(2) {
            faults.rollouts.push(replica.label());
            replica.terminate().await?;
        } else {
            faults.kills.push(replica.label());
            replica.kill().await?;
        }
        replica.start().await?;
    }
    Ok(faults)
}

/// Restarts the machine's PostgreSQL server (its clients reconnect).
async fn restart_postgres() -> anyhow::Result<()> {
    let versions = std::fs::read_dir("/etc/postgresql").context("no local PostgreSQL")?;
    let version = versions
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()
        .context("no PostgreSQL cluster")?;
    let status = tokio::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .await?;
    ensure!(status.success(), "pg_ctlcluster restart: {status}");
    Ok(())
}

/// Checks what the load did to `name`, through the API: its last operation ended and no job
/// is counted as running; each job ended once and its follower saw each of its events once,
/// in order; its versions are numbered without gaps, one per key-field change, in order.
async fn check_deployment(
    clients: &Clients,
    name: &str,
    outcome: Outcome,
    report: &mut Report,
) -> anyhow::Result<i64> {
    report.operations += outcome.operations;
    report.jobs += outcome.jobs.len();
    let deployment = clients
        .call("GetDeployment", |mut gateway| async move {
            gateway.deployment(name).await.map_err(load::to_status)
        })
        .await?;
    if deployment.running_job_count != 0 {
        report.problems.push(format!(
            "{name}: still counts {} running jobs",
            deployment.running_job_count
        ));
    }
    for (job, follower) in outcome.jobs.iter().zip(outcome.followers) {
        report.watchers += 1;
        match follower.await? {
            Ok(followed) => check_follower(name, job, &followed, report),
            Err(error) => report.problems.push(format!("{job}: {error:#}")),
        }
    }
    // Versions are recorded through deployment-svc's outbox, after the change: one whose
    // delivery failed while PostgreSQL restarted waits out its backoff (30 s at most). A
    // minute is allowed for them all to arrive; what is missing then is lost.
    let expected: Vec<i64> = (1..=outcome.images.len() as i64).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (versions, numbers) = loop {
        let versions = clients
            .call("ListVersions", |mut gateway| async move {
                let request = gateway.request(pb::ListVersionsRequest {
                    parent: name.to_owned(),
                    page_size: 1000,
                    ..Default::default()
                });
                gateway.versions.list_versions(request).await
            })
            .await?
            .into_inner()
            .versions;
        let mut numbers: Vec<i64> = versions.iter().map(|version| version.number).collect();
        numbers.sort_unstable();
        if numbers.len() >= expected.len() || tokio::time::Instant::now() > deadline {
            break (versions, numbers);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if numbers != expected {
        report.problems.push(format!(
            "{name}: versions {numbers:?}, expected {expected:?}"
        ));
        return Ok(deployment.revision);
    }
    let mut by_number = versions;
    by_number.sort_by_key(|version| version.number);
    let images: Vec<String> = by_number
        .iter()
        .map(|version| {
            version
                .key_fields
                .as_ref()
                .map(|k| k.image.clone())
                .unwrap_or_default()
        })
        .collect();
    if images != outcome.images {
        report.problems.push(format!(
            "{name}: versions hold {images:?}, the changes were {:?}",
            outcome.images
        ));
    }
    Ok(deployment.revision)
}

fn check_follower(deployment: &str, job: &str, followed: &Followed, report: &mut Report) {
    report.resumes += followed.resumes;
    let expected: Vec<u64> = (1..=followed.sequences.len() as u64).collect();
    if followed.sequences != expected {
        report.problems.push(format!(
            "{deployment}: the watcher of {job} saw sequences {:?}",
            followed.sequences
        ));
    }
    if followed.ends != 1 {
        report
            .problems
            .push(format!("{job}: ended {} times", followed.ends));
    }
}

/// Fails with the report when it names any problem.
pub fn assert_nothing_lost(report: &Report) -> anyhow::Result<()> {
    if report.problems.is_empty() {
        return Ok(());
    }
    bail!("{report}")
}
