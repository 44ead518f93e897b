//! Live operation streams shared by every watcher of one operation.
//!
//! One upstream `WatchOperation` per operation keeps the operation's latest form, encoded once.
//! Every message is the whole operation, so a watcher is sent the latest form each time it
//! changes (one that changed twice while the watcher was sending is sent once, as it is now),
//! and the stream ends after the form that shows the operation ended.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eyrie_platform::{grpc::TracedChannel, peer_status::PeerFailure};
use eyrie_proto::v1::{
    self as pb, deployment_service_client::DeploymentServiceClient, watch_operation_response::Kind,
};
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tonic::{Response, Status};

use crate::{
    forward::{Answer, Call},
    heartbeat::Heartbeat,
    job_feeds::{FeedSettings, RECONNECT_DELAY},
    shared_feeds::{SharedFeeds, Watching, first_state},
};

/// The gRPC path of the one RPC served here.
pub const WATCH_OPERATION: &str = "/eyrie.v1.DeploymentService/WatchOperation";

/// What these feeds are counted as in the metrics (`eyrie.gateway.watchers`).
const KIND: &str = "operation";

/// The operations being watched, each with its one upstream stream.
#[derive(Clone)]
pub struct OperationFeeds {
    feeds: SharedFeeds<String, OperationFeed>,
    settings: FeedSettings,
}

/// One watched operation.
#[derive(Default)]
struct OperationFeed {
    state: Mutex<OperationState>,
    changed: watch::Sender<()>,
}

#[derive(Default)]
struct OperationState {
    /// The latest `WatchOperationResponse` carrying the operation, encoded.
    latest: Option<Bytes>,
    /// The latest form shows the operation ended: nothing follows it.
    ended: bool,
    /// Why the upstream stream could not be opened.
    failed: Option<Status>,
}

impl OperationFeeds {
    /// No operation watched yet.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            feeds: SharedFeeds::new(KIND),
            settings,
        }
    }

    /// Serves one client's `WatchOperation` call.
    pub fn answer(&self, call: Call) -> Answer {
        let feeds = self.clone();
        Box::pin(async move {
            let request =
                pb::WatchOperationRequest::decode(call.message.clone()).map_err(|_| {
                    Status::invalid_argument("the request is not a WatchOperationRequest")
                })?;
            let watcher = feeds.feeds.join(&request.name, || {
                let feed = Arc::new(OperationFeed::default());
                let pump = pump(request.name.clone(), call.channel.clone(), feed.clone());
                (feed, pump)
            });
            let mut changed = watcher.changed.subscribe();
            // Wait for the first form, so that an unknown operation is refused here.
            first_state(&mut changed, "operation", || {
                let state = watcher.state.lock().expect("operation state");
                match &state.failed {
                    Some(status) => Some(Err(status.clone())),
                    None => state.latest.is_some().then_some(Ok(())),
                }
            })
            .await?;
            let (sender, receiver) = mpsc::channel(4);
            tokio::spawn(serve_watcher(watcher, feeds.settings, changed, sender));
            Ok(Response::new(
                tokio_stream::wrappers::ReceiverStream::new(receiver).boxed(),
            ))
        })
    }
}

/// Reads the operation's stream from deployment-svc into `feed` until the operation ended,
/// reopening it where it broke.
async fn pump(name: String, channel: TracedChannel, feed: Arc<OperationFeed>) {
    let mut client = DeploymentServiceClient::new(channel);
    loop {
        let request = pb::WatchOperationRequest { name: name.clone() };
        match client.watch_operation(request).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                while let Ok(Some(message)) = stream.message().await {
                    let Some(Kind::Operation(operation)) = message.kind else {
                        continue;
                    };
                    let ended = operation.status() != pb::OperationStatus::Running;
                    let encoded = Bytes::from(
                        pb::WatchOperationResponse {
                            kind: Some(Kind::Operation(operation)),
                        }
                        .encode_to_vec(),
                    );
                    {
                        let mut state = feed.state.lock().expect("operation state");
                        state.latest = Some(encoded);
                        state.ended = ended;
                    }
                    feed.changed.send_replace(());
                    if ended {
                        return;
                    }
                }
            }
            Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => {}
            Err(status) => {
                feed.state.lock().expect("operation state").failed = Some(status);
                feed.changed.send_replace(());
                return;
            }
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

type Outbox = mpsc::Sender<Result<Bytes, Status>>;

/// Sends the latest form whenever it changes, heartbeats meanwhile, and ends after the last.
async fn serve_watcher(
    watcher: Watching<String, OperationFeed>,
    settings: FeedSettings,
    mut changed: watch::Receiver<()>,
    outbox: Outbox,
) {
    let feed: &OperationFeed = &watcher;
    let heartbeat = Bytes::from(
        pb::WatchOperationResponse {
            kind: Some(Kind::Heartbeat(pb::Heartbeat::default())),
        }
        .encode_to_vec(),
    );
    let mut sent: Option<Bytes> = None;
    let mut beat = Heartbeat::new(settings.heartbeat_interval);
    loop {
        let (latest, ended) = {
            let state = feed.state.lock().expect("operation state");
            (state.latest.clone(), state.ended)
        };
        if let Some(latest) = latest
            && sent.as_ref() != Some(&latest)
        {
            if outbox.send(Ok(latest.clone())).await.is_err() {
                return;
            }
            beat.sent();
            sent = Some(latest);
        }
        if ended {
            return;
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
