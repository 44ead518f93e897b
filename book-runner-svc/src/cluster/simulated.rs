//! Simulated clusters: `directory` clusters on whose files the runner plays the Kubernetes
//! controllers the built-in books wait for, so that books finish without a real cluster (for a
//! first run, and for tests). Nothing runs for real.
//!
//! The controllers of a folder run while at least one job uses it: every job's driver holds a
//! share of them, and the last one to end stops them. Two jobs on one cluster share one set, as
//! they would share a real cluster's controllers.

pub mod controllers;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

pub use self::controllers::Controllers;
use super::simulation::Faults;

/// How often the simulated controllers of a folder take a step by default: each pass moves each
/// object one small step (a pod scheduled, its containers started, a replica ready), so a
/// rollout of one replica takes a few seconds, as on a small real cluster.
pub const DEFAULT_PASS_INTERVAL: Duration = Duration::from_millis(250);

/// The simulated controllers running, one set per folder.
#[derive(Debug)]
pub struct Simulations {
    interval: Duration,
    running: Mutex<HashMap<PathBuf, Weak<Controllers>>>,
}

impl Simulations {
    /// Controllers that take a step every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// A share of the controllers of `folder`, started if none is running.
    pub fn controllers_of(&self, folder: &Path) -> Arc<Controllers> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|_, controllers| controllers.strong_count() > 0);
        if let Some(controllers) = running.get(folder).and_then(Weak::upgrade) {
            return controllers;
        }
        tracing::info!(
            simulated = true,
            folder = %folder.display(),
            "starting the simulated controllers of a simulated cluster (nothing runs for real)"
        );
        let controllers = Arc::new(Controllers::start(folder, self.interval, Faults::default()));
        running.insert(folder.to_path_buf(), Arc::downgrade(&controllers));
        controllers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_on_one_folder_share_its_controllers_until_the_last_ends() {
        let root = tempfile::tempdir().unwrap();
        let simulations = Simulations::new(Duration::from_millis(10));
        let first = simulations.controllers_of(root.path());
        let second = simulations.controllers_of(root.path());
        assert!(Arc::ptr_eq(&first, &second));
        let other = simulations.controllers_of(&root.path().join("other"));
        assert!(!Arc::ptr_eq(&first, &other));

        drop((first, second));
        let again = simulations.controllers_of(root.path());
        assert_eq!(
            Arc::strong_count(&again),
            1,
            "a new set once the last ended"
        );
    }

    /// A name the controllers make from what a book wrote (a PostgresCluster's user names its
    /// Secret) cannot lead out of the cluster's folder, even where the folders it climbs
    /// through exist.
    #[test]
    fn names_from_a_book_cannot_lead_the_controllers_out_of_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let cluster = root.path().join("c1");
        let write = |relative: &str, text: &str| {
            let path = cluster.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "_cluster/namespace/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n",
        );
        write(
            "ns/postgrescluster/db.yaml",
            "apiVersion: postgres-operator.crunchydata.com/v1beta1\nkind: PostgresCluster\n\
             metadata: {name: db, namespace: ns, generation: 1}\n\
             spec: {users: [{name: 'x/../../../../escape'}]}\n",
        );
        // The folder the hostile name climbs through, as if something had made it.
        std::fs::create_dir_all(cluster.join("ns/secret/db-pguser-x")).unwrap();

        let controllers =
            Controllers::start(&cluster, Duration::from_millis(10), Faults::default());
        let reconciled = (0..3000).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(cluster.join("ns/postgrescluster/db.yaml"))
                .is_ok_and(|text| text.contains("observedGeneration"))
        });
        controllers.stop();

        assert!(
            reconciled,
            "the controllers never reconciled the PostgresCluster"
        );
        let outside: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(outside, ["c1"], "written outside the cluster's folder");
    }

    /// The last job on a folder stops its controllers at once, not after their wait between
    /// passes (a job's end would otherwise wait for it).
    #[test]
    fn controllers_stop_without_finishing_their_wait() {
        let root = tempfile::tempdir().unwrap();
        let controllers =
            Controllers::start(root.path(), Duration::from_secs(3600), Faults::default());
        let (stopped, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            controllers.stop();
            let _ = stopped.send(());
        });
        // Bounded far below the hour-long wait between passes.
        done.recv_timeout(Duration::from_secs(60))
            .expect("the controllers finished their wait before stopping");
    }
}
