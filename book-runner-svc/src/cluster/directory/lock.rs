//! One writer at a time in a cluster's folder, across processes.
//!
//! The runner's directory driver and the simulated controllers both read an object, decide, and
//! write it back. Without a common lock one of them can write between the other's read and
//! write, and that write is lost: a PostgresCluster the runner deleted came back when a
//! controller's status write, compared against the file a moment before, landed after the
//! delete. The controllers may run in another process than the runner (tests start their own),
//! so the lock is an advisory lock on a file in the folder, not a mutex in memory.

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use crate::cluster::ClusterError;

/// The lock file in a cluster's folder. Its leading dot keeps it out of every listing of objects
/// (no object path starts with one).
pub const LOCK_FILE: &str = ".lock";

/// An exclusive hold on the writes into one cluster folder; released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Waits for the folder `root` to be free, and holds it; fails if the folder is missing.
    pub fn acquire(root: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(root.join(LOCK_FILE))?;
        // `flock`: two opens of the file exclude each other, in one process as in two.
        file.lock()?;
        Ok(Self { _file: file })
    }

    /// [`acquire`](Self::acquire) off the async runtime's threads (it blocks), creating the
    /// folder first: the runner's first write into a fresh cluster makes it.
    pub async fn acquire_async(root: &Path) -> Result<Self, ClusterError> {
        let root: PathBuf = root.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&root)
                .and_then(|()| Self::acquire(&root))
                .map_err(|error| {
                    ClusterError::Unavailable(format!(
                        "{}: cannot lock the cluster folder: {error}",
                        root.join(LOCK_FILE).display()
                    ))
                })
        })
        .await
        .map_err(|error| ClusterError::Unavailable(format!("locking a cluster folder: {error}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let root = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(root.path()).unwrap();
        let (acquired, second) = mpsc::channel();
        let folder = root.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _lock = FolderLock::acquire(&folder).unwrap();
            acquired.send(()).unwrap();
        });
        assert!(
            second.recv_timeout(Duration::from_millis(200)).is_err(),
            "the second holder got the folder while the first held it"
        );
        drop(first);
        second
            .recv_timeout(Duration::from_secs(60))
            .expect("the second holder never got the folder");
        waiter.join().unwrap();
    }
}
