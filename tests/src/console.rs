//! The web console (`/_eyrie/`) in a real browser: signing in through its form, the checks every
//! page gets (axe at a phone's and a desktop's width, then screenshots at both), and a recorder of
//! how a page changes by itself (live updates), with the time of each change.
//!
//! Times are milliseconds since the Unix epoch on the machine's wall clock, which the browser
//! (`performance.timeOrigin + performance.now()`), the services (event times) and the test
//! ([`now_ms`]) share: they run on one machine, so their differences are latencies.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use eyrie_proto::v1 as pb;
use serde::Deserialize;
use serde_json::json;

use crate::{
    browser::{Browser, DESKTOP, PHONE},
    journey::Gateway,
};

/// Signs in at `base` (the gateway's URL) with `token` through the sign-in form, and waits for
/// the signed-in header.
pub async fn sign_in(browser: &Browser, base: &str, token: &str) -> anyhow::Result<()> {
    browser.goto(&format!("{base}/_eyrie/sign-in")).await?;
    browser.fill("API token", token).await?;
    browser.click_by_role("button", "Sign in").await?;
    browser.wait_for_text("Signed in as").await;
    Ok(())
}

/// Checks the page as every console page is checked: no serious or critical axe violation at a
/// phone's width nor at a desktop's, then screenshots at both (named `name`); the viewport is
/// then the desktop's.
///
/// # Panics
/// On a serious or critical violation, naming it (see [`Browser::assert_no_serious_violations`]).
pub async fn check_page(browser: &Browser, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut shots = Vec::new();
    for viewport in [PHONE, DESKTOP] {
        browser.set_viewport(viewport).await?;
        browser.assert_no_serious_violations().await;
        shots.push(browser.screenshot(name).await?);
    }
    Ok(shots)
}

/// A control of the page's main content that acts (a button, or a link made to look like one),
/// as a person meets it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Control {
    /// Its accessible name (label, text or value).
    pub name: String,
    /// `button` or `link`.
    pub kind: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Its accessible description (`aria-describedby`): why it is disabled, what it does.
    pub description: String,
}

const CONTROLS: &str = r#"
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const described = (e) => norm((e.getAttribute('aria-describedby') || '').split(/\s+/)
  .map((id) => { const d = id && document.getElementById(id); return d ? d.textContent : ''; })
  .join(' '));
const selector = 'main button, main input[type=submit], main [role=button], main a.button';
return [...document.querySelectorAll(selector)]
  .filter((e) => !e.checkVisibility || e.checkVisibility())
  .map((e) => ({
    name: norm(e.getAttribute('aria-label') || e.innerText || e.value),
    kind: e.tagName === 'A' ? 'link' : 'button',
    disabled: !!e.disabled || e.getAttribute('aria-disabled') === 'true',
    description: described(e),
  }));
"#;

/// The buttons of the page's main content (and links styled as buttons), in document order;
/// the header's Sign out is not among them.
pub async fn controls(browser: &Browser) -> anyhow::Result<Vec<Control>> {
    let found = browser.client().execute(CONTROLS, vec![]).await?;
    serde_json::from_value(found).context("the page's controls")
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

/// `time` in milliseconds since the Unix epoch.
pub fn timestamp_ms(time: &prost_types::Timestamp) -> f64 {
    time.seconds as f64 * 1000.0 + f64::from(time.nanos) / 1e6
}

/// Installs the recorder in the page: a marker (gone if the page reloads or navigates) and a
/// MutationObserver that, at every change of the document, reads the id and text of the elements
/// matching `arguments[1]` and keeps them, with the time, when they differ from the last reading.
const INSTALL: &str = r#"
const [marker, css] = arguments;
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const live = { marker, css, snapshots: [] };
window.__eyrieLive = live;
const read = () => {
  const elements = [...document.querySelectorAll(css)]
    .map((e) => ({ id: e.id, text: norm(e.innerText) }));
  const last = live.snapshots[live.snapshots.length - 1];
  if (!last || JSON.stringify(last.elements) !== JSON.stringify(elements)) {
    live.snapshots.push({ at: performance.timeOrigin + performance.now(), elements });
  }
};
read();
new MutationObserver(read).observe(document.documentElement,
  { subtree: true, childList: true, characterData: true, attributes: true });
// What the live stream did, for failure messages: htmx's SSE extension announces each step.
live.stream = [];
for (const kind of ['sseOpen', 'sseError', 'sseClose', 'sseBeforeMessage', 'swapError']) {
  document.addEventListener('htmx:' + kind, (event) => {
    const type = (event.detail && event.detail.type) || '';
    live.stream.push({ at: performance.timeOrigin + performance.now(), kind, type });
  }, true);
}
return marker;
"#;

/// What a page changed into by itself, recorded since [`LiveRecorder::start`].
#[derive(Debug)]
pub struct LiveRecorder {
    marker: String,
    url: String,
    css: String,
}

/// One reading of the recorded elements.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    /// When the page changed into it (ms since the Unix epoch).
    pub at: f64,
    /// Each element matching the recorder's selector, in document order.
    pub elements: Vec<Recorded>,
}

/// One recorded element.
#[derive(Debug, Clone, Deserialize)]
pub struct Recorded {
    /// Its `id` (empty when it has none).
    pub id: String,
    /// Its visible text, whitespace collapsed.
    pub text: String,
}

/// One thing the page's live stream did.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamEvent {
    /// When (ms since the epoch).
    pub at: f64,
    /// htmx's event, without its `htmx:` prefix.
    pub kind: String,
    /// The SSE message's event name, for a message.
    #[serde(rename = "type")]
    pub event: String,
}

impl Snapshot {
    /// The text of the element of id `id`, if it was there.
    pub fn text_of(&self, id: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|element| element.id == id)
            .map(|element| element.text.as_str())
    }
}

impl LiveRecorder {
    /// Starts recording the texts of the elements matching `css` on the page open now.
    pub async fn start(browser: &Browser, css: &str) -> anyhow::Result<Self> {
        let marker = format!("live-{}", now_ms());
        let installed = browser
            .client()
            .execute(INSTALL, vec![json!(marker), json!(css)])
            .await?;
        anyhow::ensure!(installed == json!(marker), "the recorder did not install");
        Ok(Self {
            marker,
            url: browser.url().await?,
            css: css.to_owned(),
        })
    }

    /// Every reading so far, oldest first, the first being the page as it was at the start.
    ///
    /// # Errors
    /// When the page was reloaded or left since the start (its recorder is gone).
    pub async fn snapshots(&self, browser: &Browser) -> anyhow::Result<Vec<Snapshot>> {
        self.assert_same_page(browser).await?;
        let snapshots = browser
            .client()
            .execute("return window.__eyrieLive.snapshots;", vec![])
            .await?;
        serde_json::from_value(snapshots).context("the recorder's snapshots")
    }

    /// What the page's live stream did since the start (htmx's SSE events: `sseOpen`,
    /// `sseBeforeMessage` with the message's event name, `sseError`, ...), for failure messages.
    pub async fn stream_log(&self, browser: &Browser) -> anyhow::Result<Vec<StreamEvent>> {
        self.assert_same_page(browser).await?;
        let log = browser
            .client()
            .execute("return window.__eyrieLive.stream;", vec![])
            .await?;
        serde_json::from_value(log).context("the recorder's stream log")
    }

    /// Fails unless the page is the one the recorder started on, never reloaded nor left: its
    /// marker is still there and its URL is the same.
    pub async fn assert_same_page(&self, browser: &Browser) -> anyhow::Result<()> {
        let marker = browser
            .client()
            .execute(
                "return window.__eyrieLive ? window.__eyrieLive.marker : null;",
                vec![],
            )
            .await?;
        let url = browser.url().await?;
        anyhow::ensure!(
            marker == json!(self.marker) && url == self.url,
            "the page recorded ({}, elements `{}`) was reloaded or left: now {url}",
            self.url,
            self.css
        );
        Ok(())
    }
}

/// Minimum, median and maximum of `latencies` (ms), for a closing note.
pub fn summary(latencies: &[f64]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.as_slice() {
        [] => "no measurement".to_owned(),
        [only] => format!("{only:.0} ms"),
        _ => format!(
            "min {:.0} ms, median {:.0} ms, max {:.0} ms over {}",
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            sorted.len()
        ),
    }
}

/// When the page first showed what `wanted` looks for, in `snapshots` (ms since the epoch).
pub fn first_shown(snapshots: &[Snapshot], wanted: impl Fn(&Snapshot) -> bool) -> Option<f64> {
    snapshots
        .iter()
        .find(|snapshot| wanted(snapshot))
        .map(|snapshot| snapshot.at)
}

/// Each event of job `job` (a resource name) from the first, with when it reached the caller
/// through the API's WatchJob (ms since the epoch), until the job ends.
///
/// # Errors
/// When the watch fails, or sends nothing (not even a heartbeat) for `silence`.
pub async fn watch_job_arrivals(
    mut api: Gateway,
    job: String,
    silence: Duration,
) -> anyhow::Result<Vec<(pb::JobEvent, f64)>> {
    let request = api.request(pb::WatchJobRequest {
        name: job,
        after_sequence: 0,
    });
    let mut stream = api.jobs.watch_job(request).await?.into_inner();
    let mut arrivals = Vec::new();
    loop {
        let message = tokio::time::timeout(silence, stream.message())
            .await
            .context("WatchJob sent nothing for too long")??;
        match message.and_then(|message| message.kind) {
            Some(pb::watch_job_response::Kind::Event(event)) => arrivals.push((event, now_ms())),
            Some(_) => {}
            None => return Ok(arrivals),
        }
    }
}
