//! Live job streams shared by every watcher of a job.
//!
//! However many clients watch a job through the gateway, it reads the job's events from
//! book-runner-svc once: one upstream `WatchJob` per job feeds an in-memory list of encoded
//! events that each watcher's stream reads at its client's pace, with a cursor. A slow client
//! holds no queue of its own and delays nobody. The list is capped: a watcher left behind it catches up from the
//! runner's stored history on a stream of its own, then walks the shared list again (and if
//! that fails, it is ended with `ABORTED` and the sequence to resume from).

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use bytes::Bytes;
use eyrie_platform::{grpc::TracedChannel, peer_status::PeerFailure};
use eyrie_proto::v1::{self as pb, job_service_client::JobServiceClient};
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::watch;
use tonic::{Response, Status};

use crate::{
    access::wire,
    forward::{Answer, Call, open_encoded_stream},
    heartbeat::Heartbeat,
    shared_feeds::{SharedFeeds, Watching},
};

/// The gRPC path of the one RPC served here.
pub const WATCH_JOB: &str = "/eyrie.v1.JobService/WatchJob";

/// What these feeds are counted as in the metrics (`eyrie.gateway.watchers`).
const KIND: &str = "job";

/// How long an upstream stream that broke waits before it is opened again.
pub(crate) const RECONNECT_DELAY: Duration = Duration::from_millis(200);

/// Tuning of the shared streams: the gateway's `[watch]` settings.
pub type FeedSettings = crate::config::WatchSettings;

/// The jobs being watched, each with its one upstream stream.
#[derive(Clone)]
pub struct JobFeeds {
    feeds: SharedFeeds<String, Feed>,
    settings: FeedSettings,
}

/// A client's hold on a job's feed.
type Watcher = Watching<String, Feed>;

impl JobFeeds {
    /// No job watched yet.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            feeds: SharedFeeds::new(KIND),
            settings,
        }
    }

    /// Serves one client's `WatchJob` call.
    pub fn answer(&self, call: Call) -> Answer {
        let feeds = self.clone();
        Box::pin(async move {
            let request = pb::WatchJobRequest::decode(call.message.clone())
                .map_err(|_| Status::invalid_argument("the request is not a WatchJobRequest"))?;
            if request.name.is_empty() {
                return Err(eyrie_platform::status::invalid_argument(&[
                    eyrie_platform::status::FieldViolation::new("name", "is required"),
                ]));
            }
            let watcher = feeds.join(&request.name, &call.channel);
            // Wait for the upstream stream to open, so that a missing job is refused here.
            let mut state = watcher.state.subscribe();
            let opened = state
                .wait_for(|state| state.opened || state.ended.is_some())
                .await
                .map(|state| state.ended.clone())
                .map_err(|_| Status::unavailable("the job's stream closed"))?;
            if let Some(Err(status)) = opened
                && !watcher.has_events()
            {
                return Err(status);
            }
            Ok(Response::new(
                watch_stream(
                    watcher,
                    request.after_sequence,
                    call.channel.clone(),
                    feeds.settings,
                )
                .boxed(),
            ))
        })
    }

    /// The feed of `job`, started if nobody watches it yet.
    fn join(&self, job: &String, channel: &TracedChannel) -> Watcher {
        self.feeds.join(job, || {
            let feed = Arc::new(Feed::new(self.settings.max_buffered_events));
            let pump = pump(job.clone(), channel.clone(), feed.clone());
            (feed, pump)
        })
    }
}

/// One watched job: its events so far and how its upstream stream stands.
struct Feed {
    events: RwLock<Events>,
    state: watch::Sender<FeedState>,
}

/// The kept events, dense by sequence from `first_sequence`.
struct Events {
    first_sequence: u64,
    encoded: std::collections::VecDeque<Bytes>,
    cap: usize,
}

impl Events {
    fn last_sequence(&self) -> u64 {
        self.first_sequence + self.encoded.len() as u64 - 1
    }
}

#[derive(Debug, Clone, Default)]
struct FeedState {
    /// The upstream stream answered (or the job has events).
    opened: bool,
    /// Sequence of the last event appended.
    last_sequence: u64,
    /// The job's stream is over: OK after its final event, or the status that ended it.
    ended: Option<Result<(), Status>>,
}

impl Feed {
    fn new(cap: usize) -> Self {
        Self {
            events: RwLock::new(Events {
                first_sequence: 1,
                encoded: std::collections::VecDeque::new(),
                cap: cap.max(1),
            }),
            state: watch::Sender::new(FeedState::default()),
        }
    }

    fn has_events(&self) -> bool {
        !self.events.read().expect("events lock").encoded.is_empty()
    }

    /// Appends the event with `sequence` if it is the next one (a reopened stream may repeat).
    fn append(&self, sequence: u64, encoded: Bytes) {
        let mut events = self.events.write().expect("events lock");
        if sequence != events.first_sequence + events.encoded.len() as u64 {
            return;
        }
        events.encoded.push_back(encoded);
        if events.encoded.len() > events.cap {
            events.encoded.pop_front();
            events.first_sequence += 1;
        }
        drop(events);
        self.state.send_modify(|state| {
            state.opened = true;
            state.last_sequence = sequence;
        });
    }

    fn last_sequence(&self) -> u64 {
        self.state.borrow().last_sequence
    }

    fn end(&self, outcome: Result<(), Status>) {
        self.state.send_modify(|state| {
            state.opened = true;
            state.ended = Some(outcome);
        });
    }
}

/// Reads `job`'s events from the runner into `feed`, reopening the stream where it broke.
///
/// The runner's messages are kept as they arrive, never decoded and encoded again: the pump
/// reads only each event's sequence number from the bytes, and every watcher is sent the same
/// bytes.
async fn pump(job: String, channel: TracedChannel, feed: Arc<Feed>) {
    let mut upstream = tonic::client::Grpc::new(channel);
    loop {
        let request = Bytes::from(
            pb::WatchJobRequest {
                name: job.clone(),
                after_sequence: feed.last_sequence(),
            }
            .encode_to_vec(),
        );
        let opened = open_encoded_stream(&mut upstream, WATCH_JOB, request).await;
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => {
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
            Err(status) => return feed.end(Err(status)),
        };
        feed.state.send_modify(|state| state.opened = true);
        loop {
            match stream.message().await {
                // Heartbeats (no event, so no sequence) are per watcher, made by the gateway.
                Ok(Some(message)) => match wire::uint_at(&message, &[EVENT, EVENT_SEQUENCE]) {
                    Ok(Some(sequence)) => feed.append(sequence, message),
                    Ok(None) => {}
                    Err(_) => {
                        tracing::warn!(%job, "the runner sent a malformed job event; reopening");
                        break;
                    }
                },
                Ok(None) => return feed.end(Ok(())),
                Err(status) if PeerFailure::of(status.code()).stream_worth_reopening() => break,
                Err(status) => return feed.end(Err(status)),
            }
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// `WatchJobResponse.event`, and `JobEvent.sequence` in it (field numbers).
const EVENT: u32 = 1;
const EVENT_SEQUENCE: u32 = 2;

/// One client's stream: the feed's events after `after`, in order, with heartbeats while idle.
///
/// The stream reads the feed when the client's connection asks for more, so a slow client only
/// lags in its cursor; no task or queue is kept per watcher.
fn watch_stream(
    watcher: Watcher,
    after: u64,
    channel: TracedChannel,
    settings: FeedSettings,
) -> impl futures::Stream<Item = Result<Bytes, Status>> + Send + 'static {
    let changed = watcher.state.subscribe();
    let state = WatchState {
        watcher,
        cursor: after,
        changed,
        channel,
        heartbeat: Heartbeat::new(settings.heartbeat_interval),
        history: None,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let item = state.next().await?;
        state.heartbeat.sent();
        Some((item, state))
    })
}

/// Where one watcher stands.
struct WatchState {
    watcher: Watcher,
    /// Sequence of the last event sent.
    cursor: u64,
    changed: watch::Receiver<FeedState>,
    channel: TracedChannel,
    heartbeat: Heartbeat,
    /// The runner's stored history, while catching up from behind the kept events.
    history: Option<tonic::Streaming<pb::WatchJobResponse>>,
    done: bool,
}

impl WatchState {
    /// The next message for the client; `None` ends its stream.
    async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        loop {
            if self.history.is_some() {
                match self.next_from_history().await {
                    Some(item) => return Some(item),
                    None => continue,
                }
            }
            match next_for(&self.watcher, self.cursor) {
                Next::Event(encoded) => {
                    self.cursor += 1;
                    return Some(Ok(encoded));
                }
                Next::FellBehind => {
                    if let Err(status) = self.open_history().await {
                        return Some(self.fail(status));
                    }
                    continue;
                }
                Next::Wait => {}
            }
            let ended = self.changed.borrow_and_update().ended.clone();
            if let Some(outcome) = ended {
                if !matches!(next_for(&self.watcher, self.cursor), Next::Wait) {
                    continue;
                }
                let last = self.watcher.last_sequence();
                return match outcome {
                    Ok(()) if self.cursor > last => Some(self.fail(Status::out_of_range(format!(
                        "after_sequence {} is beyond the job's last event ({last})",
                        self.cursor
                    )))),
                    Ok(()) => None,
                    Err(status) => Some(self.fail(status)),
                };
            }
            tokio::select! {
                changed = self.changed.changed() => changed.ok()?,
                () = self.heartbeat.due() => {
                    return Some(Ok(heartbeat()));
                }
            }
        }
    }

    fn fail(&mut self, status: Status) -> Result<Bytes, Status> {
        self.done = true;
        Err(status)
    }

    fn resume_hint(&self) -> Status {
        Status::aborted(format!(
            "this watcher fell too far behind the job; call WatchJob again with \
             after_sequence = {} to resume",
            self.cursor
        ))
    }

    /// Opens the runner's stored history after the cursor, on a stream of this watcher's own.
    async fn open_history(&mut self) -> Result<(), Status> {
        let request = pb::WatchJobRequest {
            name: self.watcher.key().clone(),
            after_sequence: self.cursor,
        };
        let history = JobServiceClient::new(self.channel.clone())
            .watch_job(request)
            .await
            .map_err(|_| self.resume_hint())?
            .into_inner();
        self.history = Some(history);
        Ok(())
    }

    /// The next event from the stored history, until the watcher is back among the kept events
    /// (`None`: go on with the shared feed).
    async fn next_from_history(&mut self) -> Option<Result<Bytes, Status>> {
        loop {
            if back_in_step(&self.watcher, self.cursor) {
                self.history = None;
                return None;
            }
            let history = self.history.as_mut()?;
            let event = match history.message().await {
                Ok(Some(pb::WatchJobResponse {
                    kind: Some(pb::watch_job_response::Kind::Event(event)),
                })) => event,
                Ok(Some(_)) => continue,
                Ok(None) => {
                    self.history = None;
                    return None;
                }
                Err(_) => {
                    let hint = self.resume_hint();
                    return Some(self.fail(hint));
                }
            };
            if event.sequence != self.cursor + 1 {
                continue;
            }
            self.cursor += 1;
            let encoded = pb::WatchJobResponse {
                kind: Some(pb::watch_job_response::Kind::Event(event)),
            }
            .encode_to_vec();
            return Some(Ok(Bytes::from(encoded)));
        }
    }
}

fn heartbeat() -> Bytes {
    Bytes::from(
        pb::WatchJobResponse {
            kind: Some(pb::watch_job_response::Kind::Heartbeat(
                pb::Heartbeat::default(),
            )),
        }
        .encode_to_vec(),
    )
}

enum Next {
    Event(Bytes),
    FellBehind,
    Wait,
}

/// Whether a watcher at `cursor` may walk the kept events again: it is inside them with room to
/// spare (half of them), so that it does not fall behind again at once, or at their end.
fn back_in_step(feed: &Feed, cursor: u64) -> bool {
    let events = feed.events.read().expect("events lock");
    let margin = (events.cap / 2) as u64;
    cursor >= events.last_sequence() || cursor + 1 >= events.first_sequence + margin
}

/// The event after sequence `cursor`, if the feed has it.
fn next_for(feed: &Feed, cursor: u64) -> Next {
    let events = feed.events.read().expect("events lock");
    if events.encoded.is_empty() || cursor > events.last_sequence() {
        return Next::Wait;
    }
    if cursor + 1 < events.first_sequence {
        return Next::FellBehind;
    }
    let index = usize::try_from(cursor + 1 - events.first_sequence).unwrap_or(usize::MAX);
    events
        .encoded
        .get(index)
        .cloned()
        .map_or(Next::Wait, Next::Event)
}
