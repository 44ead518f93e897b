//! The controllers of a `directory` cluster for tests: the runner's own simulated controllers
//! (`cluster::simulated`), started on a folder the test chooses and stepping fast, so that a
//! built-in book with every wait answered takes about a second.

use std::{path::PathBuf, time::Duration};

pub use eyrie_book_runner_svc::cluster::{simulated::controllers::yaml_files, simulation::Faults};

/// How often the controllers look at every file again.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(30);

/// The controllers running over one folder; they stop when this is dropped.
#[derive(Debug)]
pub struct Controllers {
    running: Option<eyrie_book_runner_svc::cluster::simulated::Controllers>,
}

impl Controllers {
    /// Starts reconciling every object under `root` (which may not exist yet): a cluster's
    /// folder, or a folder holding cluster folders.
    pub fn start(root: impl Into<PathBuf>) -> Self {
        Self::start_with_faults(root, Faults::default())
    }

    /// Starts reconciling every object under `root`, playing `faults` (images that cannot be
    /// pulled or crash, Jobs that fail).
    pub fn start_with_faults(root: impl Into<PathBuf>, faults: Faults) -> Self {
        Self {
            running: Some(
                eyrie_book_runner_svc::cluster::simulated::Controllers::start(
                    root,
                    RECONCILE_INTERVAL,
                    faults,
                ),
            ),
        }
    }
}

impl Drop for Controllers {
    /// Waits for the last pass, so that the test's folder sees no write after this.
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }
}
