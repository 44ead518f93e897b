//! A recording of who starts writing to the directory clusters, and when, kept by the kernel.
//!
//! Every write of a directory cluster (apply, create, patch, delete) first opens the cluster
//! folder's lock file, so an open of that file is the start of a write. fanotify reports each
//! open with the process that made it, from outside that process: a replica frozen between a
//! write and a log line of its own cannot make its write look earlier or later than it was.
//!
//! The order of the record is what the check relies on: a [`Recorder::barrier`] returns once
//! every open made before the call is in the record, so an open recorded after a barrier taken
//! while a process was stopped was made after that process woke up.

use std::{
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use nix::{
    errno::Errno,
    sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags},
};

/// One open of a lock file, in the order the kernel reported it.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Position in the record.
    pub index: usize,
    /// The process that opened it.
    pub pid: i32,
    /// The cluster folder whose lock it is.
    pub folder: PathBuf,
    /// When the recorder read it (never before the open itself).
    pub at: SystemTime,
}

/// Records the opens of the lock files of some cluster folders, until dropped.
pub struct Recorder {
    opened: Arc<Mutex<Vec<Opened>>>,
    /// Why the recording stopped early, if it did: the record then has a hole.
    failure: Arc<Mutex<Option<Errno>>>,
    barriers: mpsc::Sender<mpsc::Sender<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts recording the opens of `lock_files` (which must exist). Needs the right to use
    /// fanotify (CAP_SYS_ADMIN).
    pub fn start(lock_files: &[PathBuf]) -> anyhow::Result<Self> {
        let fanotify = Fanotify::init(
            InitFlags::FAN_CLASS_NOTIF
                | InitFlags::FAN_CLOEXEC
                | InitFlags::FAN_NONBLOCK
                | InitFlags::FAN_UNLIMITED_QUEUE,
            EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC | EventFFlags::O_LARGEFILE,
        )
        .context("fanotify_init (the recorder needs CAP_SYS_ADMIN)")?;
        for lock_file in lock_files {
            fanotify
                .mark(
                    MarkFlags::FAN_MARK_ADD,
                    MaskFlags::FAN_OPEN,
                    std::fs::File::open("/")?,
                    Some(lock_file.as_path()),
                )
                .with_context(|| format!("fanotify_mark {}", lock_file.display()))?;
        }
        let opened = Arc::new(Mutex::new(Vec::new()));
        let failure = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (barriers, requests) = mpsc::channel::<mpsc::Sender<usize>>();
        let thread = std::thread::Builder::new()
            .name("write-recorder".into())
            .spawn({
                let (opened, failure, stop) = (opened.clone(), failure.clone(), stop.clone());
                move || {
                    if let Err(error) = record(&fanotify, &opened, &stop, &requests) {
                        *failure.lock().unwrap() = Some(error);
                    }
                }
            })?;
        Ok(Self {
            opened,
            failure,
            barriers,
            stop,
            thread: Some(thread),
        })
    }

    /// Waits until every open made before this call is recorded; returns the index the next
    /// open will get.
    pub fn barrier(&self) -> anyhow::Result<usize> {
        let (answer, answered) = mpsc::channel();
        self.barriers.send(answer).context("the recorder stopped")?;
        answered
            .recv_timeout(Duration::from_secs(10))
            .context("the recorder did not answer")
    }

    /// The opens recorded so far; fails if the record has a hole.
    pub fn opened(&self) -> anyhow::Result<Vec<Opened>> {
        if let Some(error) = *self.failure.lock().unwrap() {
            anyhow::bail!("the recorder stopped reading the kernel's events: {error}");
        }
        Ok(self.opened.lock().unwrap().clone())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The recorder's loop: reads what the kernel queued, answers barriers once the queue is empty.
fn record(
    fanotify: &Fanotify,
    opened: &Mutex<Vec<Opened>>,
    stop: &AtomicBool,
    barriers: &mpsc::Receiver<mpsc::Sender<usize>>,
) -> Result<(), Errno> {
    while !stop.load(Ordering::SeqCst) {
        drain(fanotify, opened)?;
        // A barrier is answered only after a read that found the queue empty, which came after
        // the barrier was asked for.
        while let Ok(answer) = barriers.try_recv() {
            drain(fanotify, opened)?;
            let _ = answer.send(opened.lock().unwrap().len());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Reads every queued event into `opened`, until the queue is empty.
fn drain(fanotify: &Fanotify, opened: &Mutex<Vec<Opened>>) -> Result<(), Errno> {
    loop {
        let events = match fanotify.read_events() {
            Ok(events) => events,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(error) => return Err(error),
        };
        let at = SystemTime::now();
        let mut opened = opened.lock().unwrap();
        for event in events {
            let Some(fd) = event.fd() else {
                // The queue overflowed: the record would have a hole, which the check must not
                // take for an absence of writes.
                return Err(Errno::EOVERFLOW);
            };
            let file =
                std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default();
            let index = opened.len();
            opened.push(Opened {
                index,
                pid: event.pid(),
                folder: file.parent().map(Path::to_path_buf).unwrap_or_default(),
                at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use nix::{sys::signal, unistd::Pid};

    use super::*;

    /// Waits (ten seconds at most) until `recorder` holds an open by `pid` at or after `from`.
    fn wait_for_open(recorder: &Recorder, pid: i32, from: usize) -> Opened {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let opened = recorder.opened().unwrap();
            if let Some(open) = opened.iter().find(|o| o.pid == pid && o.index >= from) {
                return open.clone();
            }
            assert!(Instant::now() < deadline, "no open by {pid} recorded");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The record names the process that opened the lock file, and a process frozen between
    /// two barriers opens nothing between them: what the chaos run's check stands on.
    #[test]
    fn opens_are_recorded_with_their_process_and_none_while_it_is_frozen() {
        let folder = tempfile::tempdir().unwrap();
        let lock = folder.path().join(".lock");
        std::fs::File::create(&lock).unwrap();
        let recorder = match Recorder::start(std::slice::from_ref(&lock)) {
            Ok(recorder) => recorder,
            Err(error) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: {error:#}");
                return;
            }
            Err(error) => panic!("{error:#}"),
        };
        // A writer that keeps opening the lock file, as a runner's writes do.
        let mut writer = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while :; do : < '{}'; sleep 0.02; done",
                lock.display()
            ))
            .spawn()
            .unwrap();
        let pid = i32::try_from(writer.id()).unwrap();
        let first = wait_for_open(&recorder, pid, 0);
        assert_eq!(first.folder, folder.path().canonicalize().unwrap());

        signal::kill(Pid::from_raw(pid), signal::Signal::SIGSTOP).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !super::super::fleet::all_threads_stopped(writer.id()) {
            assert!(Instant::now() < deadline, "the writer did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        let frozen = recorder.barrier().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let woke = recorder.barrier().unwrap();
        let during: Vec<_> = recorder.opened().unwrap()[frozen..woke]
            .iter()
            .filter(|open| open.pid == pid)
            .cloned()
            .collect();
        assert!(during.is_empty(), "opens while frozen: {during:?}");

        signal::kill(Pid::from_raw(pid), signal::Signal::SIGCONT).unwrap();
        wait_for_open(&recorder, pid, woke);
        writer.kill().unwrap();
        writer.wait().unwrap();
    }
}
