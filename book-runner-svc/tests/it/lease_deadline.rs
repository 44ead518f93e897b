//! A worker that cannot renew its lease stops touching clusters before another worker can take
//! its job over (issue #15, part 6).

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use eyrie_book_runner_svc::{
    config::RunnerSettings,
    domain::{
        book::{BookFormat, BookSpec},
        job::{EventKind, JobStatus, NewJob},
        template::Templates,
    },
    engine::Engine,
    store::{jobs::SeaJobStore, migration::Migrator},
};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use tokio_util::sync::CancellationToken;

use crate::recording::{ConnectTo, Gate, Held, RecordingCluster, Writes};

const LEASE_TTL: Duration = Duration::from_secs(4);
/// A bound for what must happen, so that a hang fails the test instead of stalling it.
const PATIENCE: Duration = Duration::from_secs(60);

/// One step applying three objects, one after the other.
const BOOK: &str = r#"
name: three-objects
type: none
steps:
  - name: Apply
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: one, namespace: sample-ns}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: two, namespace: sample-ns}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: three, namespace: sample-ns}
"#;

fn settings(root: &std::path::Path) -> RunnerSettings {
    RunnerSettings {
        workers: 1,
        lease_ttl: LEASE_TTL,
        poll_interval: Duration::from_millis(100),
        cancel_check_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_millis(500),
        directory_root: root.to_path_buf(),
        ..RunnerSettings::default()
    }
}

fn new_job() -> NewJob {
    NewJob::sample(
        "deadline-1",
        BookSpec::parse(BookFormat::Yaml, BOOK).unwrap(),
    )
}

/// Waits until `condition` holds, checking again every 50 ms, for at most [`PATIENCE`].
async fn until<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what} did not happen within {PATIENCE:?}");
}

async fn next_held(held: &mut tokio::sync::mpsc::UnboundedReceiver<Held>, what: &str) -> Held {
    tokio::time::timeout(PATIENCE, held.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {PATIENCE:?}"))
        .expect("the gate lives")
}

/// When the job's lease, as stored, expires.
async fn lease_expiry(db: &impl sea_orm::ConnectionTrait, job: &str) -> DateTime<Utc> {
    let select = Statement::from_string(
        db.get_database_backend(),
        format!("SELECT lease_expires_at FROM jobs WHERE id = '{job}'"),
    );
    let row = db.query_one_raw(select).await.unwrap().expect("the job");
    row.try_get("", "lease_expires_at").unwrap()
}

/// Takes the database's write lock and keeps it until the transaction is dropped: every write of
/// the runner, lease renewals included, waits (PostgreSQL) or fails once SQLite's busy timeout
/// is over.
async fn pause_writes(db: &DatabaseConnection) -> sea_orm::DatabaseTransaction {
    let pause = eyrie_platform::db::begin_write(db).await.unwrap();
    if pause.get_database_backend() == DbBackend::Postgres {
        pause
            .execute_unprepared("LOCK TABLE jobs IN EXCLUSIVE MODE")
            .await
            .unwrap();
    }
    pause
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_renew_its_lease_writes_nothing_after_its_deadline_and_another_takes_over()
 {
    let dir = tempfile::tempdir().unwrap();
    for database in crate::harness::databases(&dir) {
        let backend = eyrie_platform::testing::describe(&database);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&database)
            .await
            .unwrap();
        let store = SeaJobStore::new(db.clone());
        let templates = Arc::new(Templates::default());
        let writes = Writes::default();

        // Worker A: its cluster takes the first write, then holds the next ones at a gate.
        let (gate, mut held) = Gate::new(1);
        let cluster_a = RecordingCluster::new("A", writes.clone(), Some(gate.clone()));
        let engine_a = Engine::with_clusters(
            store.clone(),
            templates.clone(),
            settings(dir.path()),
            None,
            Arc::new(ConnectTo(cluster_a)),
        );
        let stop_a = CancellationToken::new();
        let mut workers_a = engine_a.start(stop_a.clone());
        let (job, _) = store
            .create("0001deadline", &new_job(), Utc::now())
            .await
            .unwrap();
        engine_a.job_queued();

        // A applies the first object and sends the second, which stays in flight; once the
        // first one's log line is stored, A waits on nothing but that write.
        assert_eq!(
            next_held(&mut held, "A's second apply").await,
            Held::Waiting("ConfigMap sample-ns/two".to_owned()),
            "{backend}"
        );
        let (shared, job_id) = (&store, job.id.as_str());
        until("the log of A's first apply", move || async move {
            let (lines, _) = shared.step_log(job_id, 0, 0, 10).await.unwrap();
            lines
                .iter()
                .any(|line| line.text.contains("ConfigMap sample-ns/one"))
        })
        .await;

        // The store stops taking writes: A can renew its lease no more. Renewals that were
        // under way have ended by now, so the stored expiry is A's last.
        let pause = pause_writes(&db).await;
        let expiry = lease_expiry(&pause, &job.id).await;

        // A stops by itself at its local deadline, before its lease expires: the write it had
        // in flight is cancelled.
        let Held::Cancelled(object, stopped) =
            next_held(&mut held, "the cancellation of A's write in flight").await
        else {
            panic!("{backend}: A kept its write in flight although it could not renew its lease");
        };
        assert_eq!(object, "ConfigMap sample-ns/two", "{backend}");
        assert!(
            stopped < expiry,
            "{backend}: A stopped at {stopped}, after its lease expired at {expiry}"
        );

        // Long after the lease expired, A's cluster lets writes through again: anything A still
        // had under way would be recorded now. Then the store comes back, A's process stops
        // (so that it does not claim the job again itself), and worker B starts.
        until("the expiry of A's lease", move || async move {
            Utc::now() > expiry
        })
        .await;
        gate.open();
        stop_a.cancel();
        drop(pause);
        while workers_a.join_next().await.is_some() {}

        let cluster_b = RecordingCluster::new("B", writes.clone(), None);
        let engine_b = Engine::with_clusters(
            store.clone(),
            templates.clone(),
            settings(dir.path()),
            None,
            Arc::new(ConnectTo(cluster_b)),
        );
        let stop_b = CancellationToken::new();
        let mut workers_b = engine_b.start(stop_b.clone());
        until("the end of the job", move || async move {
            shared
                .get(job_id)
                .await
                .unwrap()
                .is_some_and(|job| job.status.is_final())
        })
        .await;
        stop_b.cancel();
        while workers_b.join_next().await.is_some() {}

        let ended = store.get(&job.id).await.unwrap().unwrap();
        assert_eq!(ended.status, JobStatus::Succeeded, "{backend}: {ended:?}");
        assert_eq!(
            ended.steps[0].attempts, 2,
            "{backend}: B ran the interrupted step again"
        );
        let events = store.events_after(&job.id, 0, 1000).await.unwrap();
        assert!(
            events
                .iter()
                .any(|event| event.kind == EventKind::JobStarted { takeover: true }),
            "{backend}: B took the job over: {events:?}"
        );

        let writes = writes.lock().unwrap().clone();
        let by = |worker| -> Vec<(&str, &str)> {
            writes
                .iter()
                .filter(|write| write.worker == worker)
                .map(|write| (write.operation, write.object.as_str()))
                .collect()
        };
        assert_eq!(
            by("A"),
            [("apply", "ConfigMap sample-ns/one")],
            "{backend}: A wrote nothing after it lost its lease"
        );
        assert_eq!(
            by("B"),
            [
                ("apply", "ConfigMap sample-ns/one"),
                ("apply", "ConfigMap sample-ns/two"),
                ("apply", "ConfigMap sample-ns/three"),
            ],
            "{backend}"
        );
        for write in writes.iter().filter(|write| write.worker == "A") {
            assert!(write.at < stopped, "{backend}: {write:?}");
        }
        for write in writes.iter().filter(|write| write.worker == "B") {
            assert!(write.at > expiry, "{backend}: {write:?}");
        }
        // Nothing was left waiting at A's gate.
        assert!(held.try_recv().is_err(), "{backend}");
    }
}
