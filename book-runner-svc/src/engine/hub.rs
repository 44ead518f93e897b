//! Live job events for any number of watchers: one follower per watched job reads new events
//! from the database and broadcasts them, so a thousand watchers of a job cost one query per
//! batch of events, not one each. The database stays the only source of order: watchers read
//! history from it, and catch up from it whenever they miss a broadcast.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, broadcast};

use crate::{domain::job::JobEvent, store::jobs::SeaJobStore};

/// Events buffered per job for watchers that are briefly slower than the job.
const BROADCAST_CAPACITY: usize = 1024;
/// Events read per query.
const BATCH: u64 = 500;

/// The followers of every watched job of this process.
#[derive(Clone)]
pub struct EventHub {
    store: SeaJobStore,
    feeds: Arc<Mutex<HashMap<String, Arc<Feed>>>>,
    poll_interval: Duration,
}

struct Feed {
    sender: broadcast::Sender<JobEvent>,
    wake: Notify,
}

impl EventHub {
    /// Follows jobs in `store`; events of this process are seen at once, those of other
    /// replicas at once on PostgreSQL (its signals, see [`EventHub::wake`]) and otherwise within
    /// `poll_interval`, which is also the safety net for a lost signal.
    pub fn new(store: SeaJobStore, poll_interval: Duration) -> Self {
        Self {
            store,
            feeds: Arc::default(),
            poll_interval,
        }
    }

    /// Subscribes to the live events of job `id`, starting its follower if needed.
    pub fn subscribe(&self, id: &str) -> broadcast::Receiver<JobEvent> {
        let mut feeds = self.feeds.lock().expect("hub lock");
        if let Some(feed) = feeds.get(id) {
            return feed.sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(BROADCAST_CAPACITY);
        let feed = Arc::new(Feed {
            sender,
            wake: Notify::new(),
        });
        feeds.insert(id.to_owned(), feed.clone());
        tokio::spawn(self.clone().follow(id.to_owned(), feed));
        receiver
    }

    /// Tells the follower of job `id`, if any, that new events were stored.
    pub fn wake(&self, id: &str) {
        if let Some(feed) = self.feeds.lock().expect("hub lock").get(id) {
            feed.wake.notify_one();
        }
    }

    /// Tells every follower to look for new events (signals may have been missed).
    pub fn wake_all(&self) {
        for feed in self.feeds.lock().expect("hub lock").values() {
            feed.wake.notify_one();
        }
    }

    async fn follow(self, id: String, feed: Arc<Feed>) {
        let mut last = match self.store.last_sequence(&id).await {
            Ok(Some(last)) => last,
            _ => 0,
        };
        loop {
            tokio::select! {
                () = feed.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
            let mut ended = false;
            match self.store.events_after(&id, last, BATCH).await {
                Ok(events) => {
                    let full_batch = events.len() as u64 == BATCH;
                    for event in events {
                        last = event.sequence;
                        ended |= event.is_final();
                        // No receiver is fine: watchers read stored history anyway.
                        let _ = feed.sender.send(event);
                    }
                    if full_batch {
                        feed.wake.notify_one();
                    }
                }
                Err(err) => tracing::warn!(job = %id, error = %err, "cannot read job events"),
            }
            if ended || feed.sender.receiver_count() == 0 {
                let mut feeds = self.feeds.lock().expect("hub lock");
                // A watcher may have subscribed since the check: it keeps the feed alive.
                if feed.sender.receiver_count() == 0 || ended {
                    feeds.remove(&id);
                    return;
                }
            }
        }
    }
}
