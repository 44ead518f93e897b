//! Feeds shared by the watchers of one key (a job, a group): the first watcher starts the
//! feed's upstream pump, the last one to leave stops it and forgets the feed.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    ops::Deref,
    sync::{Arc, Mutex},
};

use tokio::task::AbortHandle;

/// One feed and who watches it.
struct Entry<F> {
    feed: Arc<F>,
    watchers: usize,
    pump: AbortHandle,
}

/// The feeds being watched, by key.
pub struct SharedFeeds<K, F> {
    entries: Arc<Mutex<HashMap<K, Entry<F>>>>,
    /// What is watched (`job`, `deployments`, `operation`): the metrics' label.
    kind: &'static str,
}

impl<K, F> Clone for SharedFeeds<K, F> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            kind: self.kind,
        }
    }
}

impl<K, F> SharedFeeds<K, F> {
    /// No feed yet; its watchers and upstream streams are counted as `kind`.
    pub fn new(kind: &'static str) -> Self {
        Self {
            entries: Arc::default(),
            kind,
        }
    }
}

impl<K: Eq + Hash + Clone, F> SharedFeeds<K, F> {
    /// Joins the feed of `key`; when nobody watches it yet, `start` makes it and the pump that
    /// fills it, which runs until the last watcher leaves.
    pub fn join<P>(&self, key: &K, start: impl FnOnce() -> (Arc<F>, P)) -> Watching<K, F>
    where
        P: Future<Output = ()> + Send + 'static,
    {
        let mut entries = self.entries.lock().expect("feeds lock");
        let entry = entries.entry(key.clone()).or_insert_with(|| {
            crate::metrics::watch_feeds(self.kind, 1);
            let (feed, pump) = start();
            Entry {
                feed,
                watchers: 0,
                pump: tokio::spawn(pump).abort_handle(),
            }
        });
        entry.watchers += 1;
        crate::metrics::watchers(self.kind, 1);
        Watching {
            key: key.clone(),
            feed: entry.feed.clone(),
            feeds: self.clone(),
        }
    }
}

/// Waits until the first state of a feed is in: `ready` says so (`Some(Ok)`), or that the feed
/// could not start (`Some(Err)`, e.g. an unknown resource, refused here before any stream opens);
/// `changed` wakes it whenever the feed moves. `what` names the feed in the error of a pump that
/// stopped.
pub async fn first_state(
    changed: &mut tokio::sync::watch::Receiver<()>,
    what: &str,
    mut ready: impl FnMut() -> Option<Result<(), tonic::Status>>,
) -> Result<(), tonic::Status> {
    loop {
        if let Some(result) = ready() {
            return result;
        }
        changed
            .changed()
            .await
            .map_err(|_| tonic::Status::unavailable(format!("the {what}'s stream closed")))?;
    }
}

/// One watcher's hold on a feed.
pub struct Watching<K: Eq + Hash, F> {
    key: K,
    feed: Arc<F>,
    feeds: SharedFeeds<K, F>,
}

impl<K: Eq + Hash, F> Watching<K, F> {
    /// The key of the feed watched.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Eq + Hash, F> Deref for Watching<K, F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.feed
    }
}

impl<K: Eq + Hash, F> Drop for Watching<K, F> {
    fn drop(&mut self) {
        let mut entries = self.feeds.entries.lock().expect("feeds lock");
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.watchers -= 1;
            crate::metrics::watchers(self.feeds.kind, -1);
            if entry.watchers == 0 {
                entry.pump.abort();
                entries.remove(&self.key);
                crate::metrics::watch_feeds(self.feeds.kind, -1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_watcher_starts_the_pump_and_the_last_stops_it() {
        let feeds = SharedFeeds::<String, u32>::new("test");
        let (stopped, mut stop_seen) = tokio::sync::oneshot::channel::<()>();
        let mut starts = 0;
        let pump = async move {
            // Dropped (aborted) when the last watcher leaves.
            let _stopped = stopped;
            std::future::pending::<()>().await;
        };
        let first = feeds.join(&"job".to_owned(), || {
            starts += 1;
            (Arc::new(7), pump)
        });
        let second = feeds.join(
            &"job".to_owned(),
            || -> (Arc<u32>, std::future::Ready<()>) { unreachable!("already started") },
        );
        assert_eq!((*first, *second, starts), (7, 7, 1));
        drop(first);
        tokio::task::yield_now().await;
        assert!(stop_seen.try_recv().is_err(), "stopped while watched");
        drop(second);
        assert!(stop_seen.await.is_err(), "the pump was stopped");
        assert!(feeds.entries.lock().unwrap().is_empty());
    }
}
