//! Browser tests: real headless Chromium driven through chromedriver (WebDriver).
//!
//! Debian's `chromium` and `chromium-driver` packages provide both (`scripts/browser install`;
//! `.ci/run` runs it). Without them a test is skipped with a hint, except in CI (`CI=true`),
//! where it fails.
//!
//! ```no_run
//! # async fn example(url: &str) -> anyhow::Result<()> {
//! use eyrie_tests::browser;
//!
//! let Some(browser) = browser::start_or_skip("console_signs_in").await else {
//!     return Ok(());
//! };
//! browser.goto(url).await?;
//! browser.fill("Token", "secret").await?;
//! browser.click_by_role("button", "Sign in").await?;
//! browser.wait_for_text("Projects").await;
//! browser.screenshots("projects").await?;
//! browser.assert_no_serious_violations().await;
//! browser.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Every method that looks for something on the page polls until it is there, within
//! [`WAIT_TIMEOUT`], and its error or panic names the page's URL and the start of its text. No
//! test sleeps for a fixed time.

mod axe;
mod driver;
mod find;

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use fantoccini::{Client, Locator, elements::Element};

pub use axe::{AxeNode, AxeViolation};
use driver::Driver;

/// Debian's Chromium (its launcher script) and chromedriver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait, or a lookup of something on the page, may take unless
/// [`Browser::set_wait_timeout`] says otherwise.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the page's text a failure message shows.
const SNIPPET_CHARS: usize = 600;

/// A browser viewport, in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

/// A phone held upright (the width of an iPhone 12 to 15).
pub const PHONE: Viewport = Viewport {
    width: 390,
    height: 844,
};
/// A laptop screen.
pub const DESKTOP: Viewport = Viewport {
    width: 1280,
    height: 900,
};

/// Whether Chromium and chromedriver are installed. Without them it prints why the test is
/// skipped and returns false, except in CI (`CI=true`), where it panics.
pub fn available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(" and ");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{missing} missing in CI: .ci/run should have installed them with scripts/browser install"
    );
    println!("skipped: {missing} missing; `scripts/browser install` installs Debian's packages");
    false
}

/// A browser for test `test` (it names the screenshot folder), or `None` when the test is to
/// be skipped (see [`available`]).
///
/// # Panics
/// When Chromium is installed but does not start.
pub async fn start_or_skip(test: &str) -> Option<Browser> {
    if !available() {
        return None;
    }
    match Browser::start(test).await {
        Ok(browser) => Some(browser),
        Err(error) => panic!("the browser did not start: {error:#}"),
    }
}

/// One headless Chromium session, at [`DESKTOP`] size to begin with. Clones share the session;
/// chromedriver and Chromium end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Browser {
    client: Client,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    test: String,
    viewport: Mutex<Viewport>,
    wait_timeout: Mutex<Duration>,
    // Held for its Drop, which kills chromedriver and Chromium and removes the profile.
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a Chromium session for test `test`.
    pub async fn start(test: &str) -> anyhow::Result<Self> {
        let started = Instant::now();
        let driver = Driver::start().await?;
        let client = driver.session(DESKTOP).await?;
        let browser = Self {
            client,
            shared: Arc::new(Shared {
                test: test.to_owned(),
                viewport: Mutex::new(DESKTOP),
                wait_timeout: Mutex::new(WAIT_TIMEOUT),
                _driver: driver,
            }),
        };
        browser.set_viewport(DESKTOP).await?;
        println!(
            "browser: headless Chromium session ready in {} ms",
            started.elapsed().as_millis()
        );
        Ok(browser)
    }

    /// The WebDriver client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current viewport.
    pub fn viewport(&self) -> Viewport {
        *self.shared.viewport.lock().expect("viewport lock")
    }

    /// Sets how long waits and lookups may take from now on (all clones), [`WAIT_TIMEOUT`] at
    /// first.
    pub fn set_wait_timeout(&self, timeout: Duration) {
        *self.shared.wait_timeout.lock().expect("wait timeout lock") = timeout;
    }

    /// How long waits and lookups may take.
    fn wait_timeout(&self) -> Duration {
        *self.shared.wait_timeout.lock().expect("wait timeout lock")
    }

    /// Resizes the window so that the page's viewport is `viewport`.
    pub async fn set_viewport(&self, viewport: Viewport) -> anyhow::Result<()> {
        let Viewport { width, height } = viewport;
        let deadline = Instant::now() + self.wait_timeout();
        let (mut outer_width, mut outer_height) = (width, height);
        loop {
            self.client
                .set_window_size(outer_width, outer_height)
                .await?;
            let (inner_width, inner_height) = self.settled_inner_size(deadline).await?;
            if (inner_width, inner_height) == (width, height) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the viewport is {inner_width}x{inner_height} instead of {width}x{height}"
            );
            // The outer size includes whatever frame Chromium draws: make up the difference.
            outer_width = (outer_width + width).saturating_sub(inner_width);
            outer_height = (outer_height + height).saturating_sub(inner_height);
        }
        *self.shared.viewport.lock().expect("viewport lock") = viewport;
        Ok(())
    }

    /// The page's inner size once a resize has reached it: on a loaded machine the renderer
    /// reports the new size some time after the window changed, so it is read until two reads
    /// agree (or `deadline` passes).
    async fn settled_inner_size(&self, deadline: Instant) -> anyhow::Result<(u32, u32)> {
        let mut last = self.inner_size().await?;
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            let now = self.inner_size().await?;
            if now == last || Instant::now() >= deadline {
                return Ok(now);
            }
            last = now;
        }
    }

    /// The page's `innerWidth` and `innerHeight`.
    async fn inner_size(&self) -> anyhow::Result<(u32, u32)> {
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let size = |index: usize| {
            inner[index]
                .as_u64()
                .and_then(|pixels| u32::try_from(pixels).ok())
                .context("the window's inner size")
        };
        Ok((size(0)?, size(1)?))
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("cannot open {url}"))
    }

    /// The page's URL.
    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// The page's title.
    pub async fn title(&self) -> anyhow::Result<String> {
        Ok(self.client.title().await?)
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> anyhow::Result<String> {
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The first element matching CSS selector `css`, once there is one.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.poll(&format!("an element matching `{css}`"), |page| async move {
            Ok(page.find_all(css).await?.into_iter().next())
        })
        .await
    }

    /// Every element matching CSS selector `css` now (no waiting: an empty list is an answer).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// The form control labelled `label` (`<label>`, `aria-label` or `aria-labelledby`; the text
    /// compared with whitespace collapsed), once there is exactly one.
    pub async fn find_by_label(&self, label: &str) -> anyhow::Result<Element> {
        self.poll(
            &format!("the field labelled {label:?}"),
            |page| async move { find::by_label(&page.client, label).await.map(Some) },
        )
        .await
    }

    /// The element of ARIA role `role` (explicit, or implied by its tag: `button`, `link`,
    /// `heading`, `textbox`, ...) whose accessible name is `name`, once there is exactly one.
    pub async fn find_by_role(&self, role: &str, name: &str) -> anyhow::Result<Element> {
        self.poll(&format!("the {role} named {name:?}"), |page| async move {
            find::by_role(&page.client, role, name).await.map(Some)
        })
        .await
    }

    /// Types `value` into the field labelled `label`, replacing what it held; on a `<select>`,
    /// chooses the option whose text is `value`.
    pub async fn fill(&self, label: &str, value: &str) -> anyhow::Result<()> {
        let field = self.find_by_label(label).await?;
        if field.tag_name().await?.eq_ignore_ascii_case("select") {
            field.select_by_label(value).await?;
        } else {
            field.clear().await?;
            field.send_keys(value).await?;
        }
        Ok(())
    }

    /// Clicks the first element matching CSS selector `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        // On a live page the element can be replaced between finding and clicking it (a card
        // re-rendered by an update): it is found again, until the wait timeout.
        self.poll(&format!("clicking {css}"), |page| async move {
            page.find(css).await?.click().await?;
            Ok(Some(()))
        })
        .await
    }

    /// Clicks the element of role `role` named `name` (see [`Browser::find_by_role`]).
    pub async fn click_by_role(&self, role: &str, name: &str) -> anyhow::Result<()> {
        self.find_by_role(role, name).await?.click().await?;
        Ok(())
    }

    /// Waits until `condition` returns `Some`, and returns what it held. The condition gets a
    /// clone of this browser; an error it returns counts as "not yet" (a page may be between
    /// two loads), and the last one is shown if time runs out.
    ///
    /// # Panics
    /// After the wait timeout ([`WAIT_TIMEOUT`] unless set), with `what`, the page's URL and
    /// the start of its text.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, condition: F) -> T
    where
        F: FnMut(Browser) -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        match self.poll(what, condition).await {
            Ok(value) => value,
            Err(error) => panic!("{error:#}"),
        }
    }

    /// Waits until the page's visible text contains `text`.
    ///
    /// # Panics
    /// As [`Browser::wait_for`].
    pub async fn wait_for_text(&self, text: &str) {
        self.wait_for(&format!("the text {text:?}"), |page| async move {
            Ok(page.text().await?.contains(text).then_some(()))
        })
        .await;
    }

    /// Writes a PNG of the viewport to `target/screenshots/<test>/<name>-<width>.png`, prints
    /// and returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let folder = screenshot_root().join(&self.shared.test);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let path = folder.join(format!("{name}-{}.png", self.viewport().width));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Screenshots of the page at [`PHONE`] and at [`DESKTOP`] width, in that order; the
    /// viewport is then set back to what it was.
    pub async fn screenshots(&self, name: &str) -> anyhow::Result<Vec<PathBuf>> {
        let before = self.viewport();
        let mut paths = Vec::new();
        for viewport in [PHONE, DESKTOP] {
            self.set_viewport(viewport).await?;
            paths.push(self.screenshot(name).await?);
        }
        self.set_viewport(before).await?;
        Ok(paths)
    }

    /// Runs axe-core (the copy in `tests/assets/axe/`) on the page and returns its violations.
    pub async fn axe_check(&self) -> anyhow::Result<Vec<AxeViolation>> {
        axe::run(&self.client).await
    }

    /// Asserts that axe finds no violation of impact `serious` or `critical` on the page.
    ///
    /// # Panics
    /// Listing each such violation: rule, impact, help and the elements concerned.
    pub async fn assert_no_serious_violations(&self) {
        let url = self.url().await.unwrap_or_default();
        let violations = match self.axe_check().await {
            Ok(violations) => violations,
            Err(error) => panic!("axe could not run on {url}: {error:#}"),
        };
        let serious: Vec<&AxeViolation> = violations.iter().filter(|v| v.is_serious()).collect();
        assert!(
            serious.is_empty(),
            "axe: {} serious or critical accessibility violation(s) on {url}:\n{}",
            serious.len(),
            serious
                .iter()
                .map(|violation| violation.to_string())
                .collect::<String>()
        );
    }

    /// Ends the session (Chromium quits); chromedriver ends when the last clone is dropped.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }

    /// Polls `probe` until it returns `Some`, for at most the wait timeout.
    async fn poll<T, F, Fut>(&self, what: &str, mut probe: F) -> anyhow::Result<T>
    where
        F: FnMut(Browser) -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let timeout = self.wait_timeout();
        let deadline = Instant::now() + timeout;
        loop {
            let last_error = match probe(self.clone()).await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => None,
                Err(error) => Some(error),
            };
            if Instant::now() >= deadline {
                let last = last_error.map_or_else(String::new, |e| format!("\nlast error: {e:#}"));
                anyhow::bail!(
                    "waited {timeout:?} for {what}{last}\n{}",
                    self.describe_page().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The page's URL, title and the start of its text, for failure messages.
    async fn describe_page(&self) -> String {
        let url = self
            .url()
            .await
            .unwrap_or_else(|e| format!("(unknown: {e})"));
        let title = self.title().await.unwrap_or_default();
        let text = self.text().await.unwrap_or_default();
        let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
        if snippet.len() < text.len() {
            snippet.push_str(" …");
        }
        format!("page: {url} (title {title:?})\n--- page text\n{snippet}")
    }
}

/// `target/screenshots`, beside the profile folders (`target/debug`) of the test executables.
fn screenshot_root() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test executable>
    match exe.ancestors().nth(3) {
        Some(target) => target.join("screenshots"),
        None => PathBuf::from("target/screenshots"),
    }
}
