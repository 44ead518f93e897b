//! Live deployment streams shared by every watcher of a deployment group.
//!
//! One upstream `WatchDeployments` per (group, `show_dropped`) keeps the latest state of each
//! deployment of the group and a capped log of the changes since. A watcher gets the latest
//! states, the end-of-initial-state marker, then walks the log with its own cursor. States are
//! whole ("the current state of one deployment"), so a watcher that falls behind the log is not
//! ended: it is sent the latest state of every deployment again and goes on from the log's end.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use eyrie_platform::{grpc::TracedChannel, peer_status::PeerFailure};
use eyrie_proto::v1::{self as pb, watch_deployments_response::Kind};
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tonic::{Response, Status};

use crate::{
    access::wire,
    forward::{Answer, Call, open_encoded_stream},
    heartbeat::Heartbeat,
    job_feeds::{FeedSettings, RECONNECT_DELAY},
    shared_feeds::{SharedFeeds, Watching, first_state},
};

/// The gRPC path of the one RPC served here.
pub const WATCH_DEPLOYMENTS: &str = "/eyrie.v1.DeploymentService/WatchDeployments";

/// What these feeds are counted as in the metrics (`eyrie.gateway.watchers`).
const KIND: &str = "deployments";

type Key = (String, bool);

/// The groups being watched, each with its one upstream stream.
#[derive(Clone)]
pub struct GroupFeeds {
    feeds: SharedFeeds<Key, GroupFeed>,
    settings: FeedSettings,
}

/// A client's hold on a group's feed.
type Watcher = Watching<Key, GroupFeed>;

/// One watched group: the latest state of each deployment and the recent changes.
struct GroupFeed {
    state: Mutex<GroupState>,
    changed: watch::Sender<()>,
}

struct GroupState {
    /// Latest `WatchDeploymentsResponse` of each deployment, encoded, by name.
    latest: BTreeMap<String, Bytes>,
    /// Changes after the initial state; `first` is the position of the oldest kept.
    log: VecDeque<Bytes>,
    first: u64,
    cap: usize,
    /// The upstream stream sent its whole initial state once.
    complete: bool,
    /// Why the upstream stream could not be opened.
    failed: Option<Status>,
}

impl GroupState {
    fn end(&self) -> u64 {
        self.first + self.log.len() as u64
    }
}

impl GroupFeeds {
    /// No group watched yet.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            feeds: SharedFeeds::new(KIND),
            settings,
        }
    }

    /// Serves one client's `WatchDeployments` call.
    pub fn answer(&self, call: Call) -> Answer {
        let feeds = self.clone();
        Box::pin(async move {
            let request =
                pb::WatchDeploymentsRequest::decode(call.message.clone()).map_err(|_| {
                    Status::invalid_argument("the request is not a WatchDeploymentsRequest")
                })?;
            let watcher = feeds.join((request.parent, request.show_dropped), &call.channel);
            let mut changed = watcher.changed.subscribe();
            // Wait for the initial state, so that an unknown group is refused here.
            first_state(&mut changed, "group", || {
                let state = watcher.state.lock().expect("group state");
                match &state.failed {
                    Some(status) => Some(Err(status.clone())),
                    None => state.complete.then_some(Ok(())),
                }
            })
            .await?;
            let (sender, receiver) = mpsc::channel(8);
            tokio::spawn(serve_watcher(watcher, feeds.settings, changed, sender));
            Ok(Response::new(
                tokio_stream::wrappers::ReceiverStream::new(receiver).boxed(),
            ))
        })
    }

    fn join(&self, key: Key, channel: &TracedChannel) -> Watcher {
        self.feeds.join(&key, || {
            let feed = Arc::new(GroupFeed {
                state: Mutex::new(GroupState {
                    latest: BTreeMap::new(),
                    log: VecDeque::new(),
                    first: 0,
                    cap: self.settings.max_buffered_events.max(1),
                    complete: false,
                    failed: None,
                }),
                changed: watch::Sender::new(()),
            });
            let pump = pump(key.clone(), channel.clone(), feed.clone());
            (feed, pump)
        })
    }
}

/// Reads the group's stream from deployment-svc into `feed`, reopening it where it broke.
///
/// The messages are kept as deployment-svc encoded them: the pump reads only the deployment's
/// name and state from the bytes, and every watcher is sent the same bytes.
async fn pump(key: Key, channel: TracedChannel, feed: Arc<GroupFeed>) {
    let (parent, show_dropped) = key;
    let mut upstream = tonic::client::Grpc::new(channel);
    loop {
        let request = Bytes::from(
            pb::WatchDeploymentsRequest {
                parent: parent.clone(),
                show_dropped,
            }
            .encode_to_vec(),
        );
        let opened = open_encoded_stream(&mut upstream, WATCH_DEPLOYMENTS, request).await;
        match opened {
            Ok(mut stream) => {
                while let Ok(Some(message)) = stream.message().await {
                    if apply(&feed, message, show_dropped).is_err() {
                        tracing::warn!(group = %parent, "deployment-svc sent a malformed change; reopening");
                        break;
                    }
                }
            }
            Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => {}
            Err(status) => {
                feed.state.lock().expect("group state").failed = Some(status);
                feed.changed.send_replace(());
                return;
            }
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Field numbers read from `WatchDeploymentsResponse`: its kinds, and in a deployment its name
/// and state.
const DEPLOYMENT: u32 = 1;
const INITIAL_STATE_COMPLETE: u32 = 2;
const DEPLOYMENT_NAME: u32 = 1;
const DEPLOYMENT_STATE: u32 = 11;

/// Takes one upstream message (encoded) into the feed. A reopened stream resends every state:
/// only the ones that differ from the latest known are changes.
fn apply(feed: &GroupFeed, message: Bytes, show_dropped: bool) -> Result<(), wire::Malformed> {
    if wire::bytes_at(&message, &[DEPLOYMENT])?.is_some() {
        let name = wire::string_at(&message, &[DEPLOYMENT, DEPLOYMENT_NAME])?
            .unwrap_or_default()
            .to_owned();
        let dropped = wire::uint_at(&message, &[DEPLOYMENT, DEPLOYMENT_STATE])?
            == Some(pb::DeploymentState::Dropped as u64);
        let mut state = feed.state.lock().expect("group state");
        if state.latest.get(&name) == Some(&message) {
            return Ok(());
        }
        // Without show_dropped a dropped deployment is sent once, then forgotten.
        if dropped && !show_dropped {
            state.latest.remove(&name);
        } else {
            state.latest.insert(name, message.clone());
        }
        if state.complete {
            state.log.push_back(message);
            if state.log.len() > state.cap {
                state.log.pop_front();
                state.first += 1;
            }
        }
    } else if wire::bytes_at(&message, &[INITIAL_STATE_COMPLETE])?.is_some() {
        feed.state.lock().expect("group state").complete = true;
    } else {
        // A heartbeat: per watcher, made by the gateway itself.
        return Ok(());
    }
    feed.changed.send_replace(());
    Ok(())
}

type Outbox = mpsc::Sender<Result<Bytes, Status>>;

fn encoded(kind: Kind) -> Bytes {
    Bytes::from(pb::WatchDeploymentsResponse { kind: Some(kind) }.encode_to_vec())
}

/// Sends every latest state; returns the log position they cover.
async fn send_latest(feed: &GroupFeed, outbox: &Outbox) -> Option<u64> {
    let (states, end) = {
        let state = feed.state.lock().expect("group state");
        (
            state.latest.values().cloned().collect::<Vec<_>>(),
            state.end(),
        )
    };
    for message in states {
        outbox.send(Ok(message)).await.ok()?;
    }
    Some(end)
}

async fn serve_watcher(
    watcher: Watcher,
    settings: FeedSettings,
    mut changed: watch::Receiver<()>,
    outbox: Outbox,
) {
    let feed: &GroupFeed = &watcher;
    let Some(mut cursor) = send_latest(feed, &outbox).await else {
        return;
    };
    let marker = encoded(Kind::InitialStateComplete(Default::default()));
    if outbox.send(Ok(marker)).await.is_err() {
        return;
    }
    let heartbeat = encoded(Kind::Heartbeat(Default::default()));
    let mut beat = Heartbeat::new(settings.heartbeat_interval);
    loop {
        let next = {
            let state = feed.state.lock().expect("group state");
            if cursor < state.first {
                None
            } else {
                Some(state.log.get((cursor - state.first) as usize).cloned())
            }
        };
        match next {
            Some(Some(message)) => {
                if outbox.send(Ok(message)).await.is_err() {
                    return;
                }
                beat.sent();
                cursor += 1;
                continue;
            }
            // Behind the kept changes: the latest states say everything it missed.
            None => {
                let Some(end) = send_latest(feed, &outbox).await else {
                    return;
                };
                beat.sent();
                cursor = end;
                continue;
            }
            Some(None) => {}
        }
        tokio::select! {
            result = changed.changed() => if result.is_err() { return },
            () = beat.due() => {
                if outbox.send(Ok(heartbeat.clone())).await.is_err() {
                    return;
                }
            }
            () = outbox.closed() => return,
        }
    }
}
