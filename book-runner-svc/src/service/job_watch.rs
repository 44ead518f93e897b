//! Following one job: its stored history, then its live events, in order and each exactly once,
//! with heartbeats while nothing happens. Transport-free: the gRPC adapter (`grpc::watch`) turns
//! each item into a `WatchJobResponse`.

use std::{ops::ControlFlow, sync::Arc};

use chrono::{DateTime, Utc};
use eyrie_platform::names::JobName;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use super::jobs::{JobError, Jobs};
use crate::domain::job::JobEvent;

/// Events read from the database per query while catching up.
const BATCH: u64 = 500;
/// Items buffered per watcher; a watcher slower than this falls back to reading the database.
const OUTBOX: usize = 64;

/// What a watcher receives.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// The next event of the job.
    Event(JobEvent),
    /// Nothing happened for a while (the stream is alive).
    Heartbeat(DateTime<Utc>),
}

/// The items of one watcher, in order; the channel closes after the job's final event.
pub struct JobWatch {
    /// The job's resource name, for the events' `job` field.
    pub job_name: String,
    /// The items, or the error that ended the watch.
    pub items: mpsc::Receiver<Result<WatchItem, JobError>>,
}

/// Starts following job `name` after `after_sequence`; errors (unknown job, sequence out of
/// range) are returned before anything is sent.
pub async fn watch(
    jobs: Arc<Jobs>,
    name: JobName,
    after_sequence: u64,
) -> Result<JobWatch, JobError> {
    // Subscribing before reading history means no event can fall between the two.
    let job = jobs.get(&name).await?;
    let mut live = jobs.engine().hub().subscribe(&job.id);
    let (job, first) = jobs.events_after(&name, after_sequence, BATCH).await?;
    let (sender, receiver) = mpsc::channel(OUTBOX);
    let heartbeat = jobs.engine().heartbeat_interval();
    let job_name = job.name.clone();

    tokio::spawn(async move {
        let mut watcher = Watcher {
            jobs,
            name,
            id: job.id,
            last: after_sequence,
            sender,
        };
        if watcher.send_all(first).await.is_break() {
            return;
        }
        // History may be longer than one batch, and the job may have ended meanwhile.
        if watcher.catch_up().await.is_break() {
            return;
        }
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                () = tokio::time::sleep(heartbeat) => {
                    if watcher.heartbeat().await.is_break() { return; }
                    continue;
                }
            };
            let flow = match received {
                Ok(event) if event.sequence <= watcher.last => continue,
                Ok(event) if event.sequence == watcher.last + 1 => watcher.send(event).await,
                // A gap (we subscribed mid-batch) or a lag: the database has everything.
                Ok(_) | Err(RecvError::Lagged(_)) => watcher.catch_up().await,
                Err(RecvError::Closed) => {
                    // The follower stopped (job ended, or it was idle); finish from the database.
                    if watcher.catch_up().await.is_break() {
                        return;
                    }
                    live = watcher.jobs.engine().hub().subscribe(&watcher.id);
                    watcher.catch_up().await
                }
            };
            if flow.is_break() {
                return;
            }
        }
    });
    Ok(JobWatch {
        job_name,
        items: receiver,
    })
}

struct Watcher {
    jobs: Arc<Jobs>,
    name: JobName,
    id: String,
    last: u64,
    sender: mpsc::Sender<Result<WatchItem, JobError>>,
}

type Flow = ControlFlow<()>;

impl Watcher {
    /// Sends one event; breaks when the client left or the job's final event went out.
    async fn send(&mut self, event: JobEvent) -> Flow {
        let is_final = event.is_final();
        let sequence = event.sequence;
        if self.sender.send(Ok(WatchItem::Event(event))).await.is_err() {
            return Flow::Break(());
        }
        self.last = sequence;
        if is_final {
            Flow::Break(())
        } else {
            Flow::Continue(())
        }
    }

    async fn send_all(&mut self, events: Vec<JobEvent>) -> Flow {
        for event in events {
            if event.sequence <= self.last {
                continue;
            }
            self.send(event).await?;
        }
        Flow::Continue(())
    }

    /// Sends every stored event after the last one sent; breaks once the client has everything
    /// of an ended job (also when it had it all before it called).
    async fn catch_up(&mut self) -> Flow {
        loop {
            let (job, events) = match self.jobs.events_after(&self.name, self.last, BATCH).await {
                Ok(found) => found,
                Err(err) => {
                    let _ = self.sender.send(Err(err)).await;
                    return Flow::Break(());
                }
            };
            let complete = (events.len() as u64) < BATCH;
            self.send_all(events).await?;
            if complete {
                if job.status.is_final() && self.last >= job.last_sequence {
                    return Flow::Break(());
                }
                return Flow::Continue(());
            }
        }
    }

    async fn heartbeat(&mut self) -> Flow {
        let beat = WatchItem::Heartbeat(Utc::now());
        if self.sender.send(Ok(beat)).await.is_err() {
            Flow::Break(())
        } else {
            // A heartbeat is also the moment to notice events the follower may not have seen.
            self.catch_up().await
        }
    }
}
