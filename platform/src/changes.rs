//! Change signals: a service tells its own watchers which record changed, right after the
//! change committed, instead of each watcher reading its records again every few hundred
//! milliseconds.
//!
//! A signal names the record (a deployment's resource name, say); the watcher reads that record
//! and compares it with what it sent last. Within one process the signal is a broadcast in
//! memory. On PostgreSQL, where several replicas share the database, each signal is also sent
//! with `NOTIFY` and every replica `LISTEN`s, so a watcher on one replica sees the changes made
//! on another. SQLite is used by one process only, so memory is enough there.
//!
//! A watcher of one group of records (the deployments of one group, say) subscribes to that
//! group's *topic*, the part of the keys before their last `/`: it is woken by its own group's
//! changes only, so a burst of changes elsewhere neither wakes it nor makes it fall behind.
//!
//! Signals can be missed (a listener reconnecting, a watcher falling behind the broadcast, a
//! process dying between its commit and its signal): the watcher is then told to read
//! everything again ([`Signal::Resync`]), and watchers also resynchronise on a slow timer of
//! their own, so a missed signal delays a change but never loses it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use secrecy::ExposeSecret as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseSettings;

/// Signals kept for a watcher that is slow to read them; one that falls further behind
/// resynchronises.
const BUFFER: usize = 4096;

/// Signals kept per topic for a slow watcher of that topic.
const TOPIC_BUFFER: usize = 256;

/// Wait before listening again after the listening connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// What a watcher is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The record with this key changed.
    Changed(Arc<str>),
    /// Changes may have been missed: read everything again.
    Resync,
}

/// The change signals of one kind of record.
#[derive(Debug)]
pub struct Changes {
    /// On PostgreSQL, the database and the `NOTIFY` channel that carry signals to the other
    /// replicas.
    replicas: Option<(DatabaseConnection, String)>,
    dispatch: Arc<Dispatch>,
}

/// Hands each signal to the watchers of every key and to those of its topic.
#[derive(Debug)]
struct Dispatch {
    every: broadcast::Sender<Signal>,
    topics: Mutex<HashMap<Arc<str>, broadcast::Sender<Signal>>>,
}

impl Dispatch {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            every: broadcast::channel(BUFFER).0,
            topics: Mutex::default(),
        })
    }

    fn send(&self, signal: Signal) {
        let topics = self
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &signal {
            Signal::Changed(key) => {
                if let Some(watchers) = topics.get(topic_of(key)) {
                    let _ = watchers.send(signal.clone());
                }
            }
            Signal::Resync => {
                for watchers in topics.values() {
                    let _ = watchers.send(Signal::Resync);
                }
            }
        }
        drop(topics);
        let _ = self.every.send(signal);
    }

    fn subscribe_to(&self, topic: &str) -> broadcast::Receiver<Signal> {
        let mut topics = self
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Topics nobody watches anymore go, so that the map holds only watched groups.
        topics.retain(|_, watchers| watchers.receiver_count() > 0);
        topics
            .entry(Arc::from(topic))
            .or_insert_with(|| broadcast::channel(TOPIC_BUFFER).0)
            .subscribe()
    }
}

/// The topic of `key`: everything up to its last `/`, included (`projects/a/groups/web/
/// deployments/` for a deployment of that group).
pub fn topic_of(key: &str) -> &str {
    key.rfind('/').map_or("", |slash| &key[..=slash])
}

impl Changes {
    /// Signals within this process only (SQLite, tests).
    pub fn local() -> Arc<Self> {
        Arc::new(Self {
            replicas: None,
            dispatch: Dispatch::new(),
        })
    }

    /// Signals named `name` for the records of `db`, the database of `settings`. On
    /// PostgreSQL they also reach the other replicas: it listens to theirs (through a
    /// connection of its own) until `shutdown`. The channel carries the schema's name, so
    /// that services sharing a database in separate schemas do not hear each other.
    pub fn start(
        db: &DatabaseConnection,
        settings: &DatabaseSettings,
        name: &str,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let channel = match &settings.schema {
            Some(schema) => format!("{name}.{schema}"),
            None => name.to_owned(),
        };
        Self::start_on_channel(db, settings, channel, shutdown)
    }

    /// As [`Changes::start`], on the `NOTIFY` channel `channel` exactly: one that a database
    /// trigger notifies, say, whose name the caller knows.
    pub fn start_on_channel(
        db: &DatabaseConnection,
        settings: &DatabaseSettings,
        channel: String,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let url = settings.url.as_ref().map(|url| url.expose_secret());
        let (Some(url), DbBackend::Postgres) = (url, db.get_database_backend()) else {
            return Self::local();
        };
        let dispatch = Dispatch::new();
        tokio::spawn(listen(
            url.to_owned(),
            channel.clone(),
            dispatch.clone(),
            shutdown,
        ));
        Arc::new(Self {
            replicas: Some((db.clone(), channel)),
            dispatch,
        })
    }

    /// Tells every watcher, here and on the other replicas, that `key` changed. Call it after
    /// the change committed. A signal that cannot be sent to the other replicas is logged: their
    /// watchers catch up on their next resynchronisation.
    pub async fn publish(&self, key: &str) {
        self.dispatch.send(Signal::Changed(Arc::from(key)));
        let Some((db, channel)) = &self.replicas else {
            return;
        };
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [channel.as_str().into(), key.into()],
        );
        if let Err(error) = db.execute_raw(notify).await {
            tracing::warn!(%channel, %error, "change signal not sent to the other replicas");
        }
    }

    /// Every signal from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.dispatch.every.subscribe(),
        }
    }

    /// The signals of the keys of `topic` (see [`topic_of`]) from now on, and every `Resync`.
    pub fn subscribe_to(&self, topic: &str) -> Subscription {
        Subscription {
            receiver: self.dispatch.subscribe_to(topic),
        }
    }
}

/// One watcher's signals.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Signal>,
}

impl Subscription {
    /// The next signal; [`Signal::Resync`] when some were missed. `None` once the signals
    /// stopped (the service is shutting down).
    pub async fn next(&mut self) -> Option<Signal> {
        match self.receiver.recv().await {
            Ok(signal) => Some(signal),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Signal::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// Forwards the other replicas' signals on `channel` to this process's watchers, listening
/// again after a failure; every (re)start of listening tells the watchers to resynchronise,
/// since signals sent meanwhile were missed.
async fn listen(
    url: String,
    channel: String,
    dispatch: Arc<Dispatch>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(&channel).await?;
            dispatch.send(Signal::Resync);
            loop {
                let notification = listener.recv().await?;
                dispatch.send(Signal::Changed(Arc::from(notification.payload())));
            }
        };
        let result: Result<(), sqlx::Error> = tokio::select! {
            result = listening => result,
            () = shutdown.cancelled() => return,
        };
        if let Err(error) = result {
            tracing::warn!(%channel, %error, "not listening to the other replicas' change signals; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(RELISTEN_DELAY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watcher_hears_each_change_and_resyncs_when_it_fell_behind() {
        let changes = Changes::local();
        let mut watcher = changes.subscribe();
        changes.publish("a").await;
        assert_eq!(watcher.next().await, Some(Signal::Changed(Arc::from("a"))));

        for key in 0..=BUFFER {
            changes.publish(&key.to_string()).await;
        }
        assert_eq!(watcher.next().await, Some(Signal::Resync));
    }

    #[tokio::test]
    async fn a_topics_watcher_hears_its_topic_only_however_busy_the_others_are() {
        let changes = Changes::local();
        let mut web = changes.subscribe_to("projects/a/groups/web/deployments/");
        // Far more changes in another group than a watcher keeps: none of them reaches it.
        for key in 0..=BUFFER {
            changes
                .publish(&format!("projects/a/groups/db/deployments/d{key}"))
                .await;
        }
        changes
            .publish("projects/a/groups/web/deployments/shop")
            .await;
        assert_eq!(
            web.next().await,
            Some(Signal::Changed(Arc::from(
                "projects/a/groups/web/deployments/shop"
            )))
        );
        changes.dispatch.send(Signal::Resync);
        assert_eq!(
            web.next().await,
            Some(Signal::Resync),
            "a resync reaches every topic"
        );
    }

    #[test]
    fn the_topic_of_a_key_is_its_parent() {
        assert_eq!(
            topic_of("projects/a/groups/web/deployments/shop"),
            "projects/a/groups/web/deployments/"
        );
        assert_eq!(topic_of("alone"), "");
    }
}
