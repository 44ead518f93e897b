//! The console's live parts: Server-Sent Events streams that pages follow with htmx's SSE
//! extension (`hx-ext="sse" sse-connect=... sse-close="end"` on a container, `sse-swap="<event>"`
//! on each part), each event carrying a part of the page re-rendered with the same template as
//! the page itself.
//!
//! - `group`: `GET /_eyrie/p/<project>/dg/<group>/events`, the cards of a group, fed by
//!   WatchDeployments;
//! - `job`: `GET .../d/<deployment>/jobs/<job>/events`, a job's status, steps and log, fed by
//!   WatchJob.
//!
//! Both call the public API in process as the session's token holder, like every page: the
//! watch goes through the gateway's own authentication, access rules and shared feeds
//! (`GroupFeeds`, `JobFeeds`), which read one upstream stream per group or job however many
//! watch it, so a browser tab opens no stream of its own to deployment-svc or book-runner-svc.
//!
//! A stream runs inside its response body: no task of its own is spawned, so a client that
//! leaves drops it (and its hold on the shared feed) with the connection. It sends a comment
//! every [`HEARTBEAT`] so that proxies keep the connection, and at the same time checks the
//! session: once the session ended (signed out, expired), it sends `end` and stops. The pages
//! close their EventSource on `end` (`sse-close="end"`), which a job's stream also sends once
//! the job ended.

pub mod group;
pub mod job;

use std::{convert::Infallible, future::Future, time::Duration};

use axum::response::{
    IntoResponse as _, Response,
    sse::{Event, Sse},
};
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::sync::mpsc;

use super::{Console, PageError, session};

/// How often a stream sends a comment and checks its session.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The event after which pages close their stream (`sse-close="end"`).
pub const END: &str = "end";

/// Where a stream's events go; a failed send means the client left.
#[derive(Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Event>,
}

/// The client left: the stream should stop.
#[derive(Debug)]
pub struct Gone;

impl Outbox {
    /// Sends `html` as the event `name` with id `id` (what a reconnecting EventSource sends
    /// back as `Last-Event-ID`).
    pub async fn send(&self, name: &str, id: Option<&str>, html: &str) -> Result<(), Gone> {
        // SSE cannot carry a carriage return in data; HTML does not need one.
        let data = if html.contains('\r') {
            html.replace('\r', "")
        } else {
            html.to_owned()
        };
        let mut event = Event::default().event(name);
        if let Some(id) = id {
            event = event.id(id);
        }
        self.sender.send(event.data(data)).await.map_err(|_| Gone)
    }

    /// Sends the `end` event: the page stops following.
    pub async fn end(&self, why: &str) -> Result<(), Gone> {
        self.send(END, None, why).await
    }

    async fn comment(&self) -> Result<(), Gone> {
        self.sender
            .send(Event::default().comment("heartbeat"))
            .await
            .map_err(|_| Gone)
    }
}

/// The session a stream was opened with, looked up again at each heartbeat.
pub struct SessionCheck {
    console: Console,
    id: Option<String>,
}

impl SessionCheck {
    /// The session of the request's cookie.
    pub fn new(console: Console, headers: &HeaderMap) -> Self {
        Self {
            console,
            id: session::cookie(headers, session::COOKIE).map(str::to_owned),
        }
    }

    /// Whether the session is still signed in. Like any request of the page, the look-up
    /// counts as a use of the session: an open live page keeps it from idling out (its
    /// lifetime still ends it).
    fn alive(&self) -> bool {
        self.id
            .as_deref()
            .and_then(|id| self.console.sessions().get(id))
            .is_some_and(|session| session.token.is_some())
    }
}

/// The `text/event-stream` response whose events `produce` sends, with heartbeats, ended by
/// the session's end. `produce` runs inside the response body: when the client leaves, the
/// body, and with it `produce` and everything it holds, is dropped.
pub fn respond<F>(session: SessionCheck, produce: impl FnOnce(Outbox) -> F) -> Response
where
    F: Future<Output = Result<(), Gone>> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(16);
    let outbox = Outbox { sender };
    let producing = produce(outbox.clone());
    let run = async move {
        tokio::select! {
            _ = producing => {}
            _ = heartbeats(&outbox, &session) => {}
        }
    };
    let events = futures::stream::select(
        tokio_stream::wrappers::ReceiverStream::new(receiver).map(Ok::<_, Infallible>),
        futures::stream::once(run).filter_map(|()| std::future::ready(None)),
    );
    let mut response = Sse::new(events).into_response();
    // Proxies such as nginx would otherwise hold events back in their buffers.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A comment every [`HEARTBEAT`]; returns once the session ended (after sending `end`) or the
/// client left.
async fn heartbeats(outbox: &Outbox, session: &SessionCheck) -> Result<(), Gone> {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if !session.alive() {
            return outbox.end("signed out").await;
        }
        outbox.comment().await?;
    }
}

/// The answer to a stream that cannot open: the page error's own status, except that a
/// request without a session is refused with 401 instead of sent to the sign-in form (an
/// EventSource cannot follow it there).
pub fn refused(error: PageError) -> Response {
    let mut response = error.into_response();
    if response.status().is_redirection() {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().remove(header::LOCATION);
    }
    response
}

/// A resource id from the URL, refused as not found unless it is a DNS-1123 label.
fn slug(value: &str) -> Result<&str, PageError> {
    eyrie_platform::names::validate_slug("id", value)
        .map(|()| value)
        .map_err(|_| PageError::NotFound("There is no such page.".to_owned()))
}

/// The `Last-Event-ID` a reconnecting EventSource sends.
pub fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
}
