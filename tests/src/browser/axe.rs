//! Accessibility checks with axe-core, vendored in `tests/assets/axe/` (see its README), run in
//! the page under test.
//!
//! The engine goes in through WebDriver's Execute Script, which Chromium runs through the
//! DevTools protocol: a page's Content-Security-Policy (`script-src 'self'`, no inline scripts)
//! does not apply to it, and the browser smoke test checks that on a page with such a policy.

use std::fmt;

use anyhow::{Context as _, bail};
use fantoccini::Client;
use serde::Deserialize;

/// axe-core's `axe.min.js`, built into the test executables only.
const AXE_SOURCE: &str = include_str!("../../assets/axe/axe.min.js");

/// Runs every rule axe enables by default and returns the violations in a small shape (the
/// whole result, with every node's context, is far larger than needed).
const RUN: &str = r#"
const done = arguments[arguments.length - 1];
const target = (node) => node.target
  .map((part) => (Array.isArray(part) ? part.join(' >>> ') : String(part)))
  .join(' | ');
window.axe.run(document, { resultTypes: ['violations'] })
  .then((results) => done({
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((node) => ({
        target: target(node),
        html: node.html,
        failureSummary: node.failureSummary || '',
      })),
    })),
  }))
  .catch((error) => done({ error: String((error && error.stack) || error) }));
"#;

/// One rule axe found broken, with the elements that break it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AxeViolation {
    /// The rule, e.g. `label` or `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    pub help: String,
    pub help_url: String,
    pub nodes: Vec<AxeNode>,
}

/// An element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AxeNode {
    /// CSS selector(s) of the element.
    pub target: String,
    /// Its opening tag, as axe quotes it.
    pub html: String,
    /// What would fix it.
    pub failure_summary: String,
}

impl AxeViolation {
    /// Whether its impact is `serious` or `critical`.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("unknown impact");
        writeln!(
            f,
            "- {} ({impact}): {} <{}>",
            self.id, self.help, self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    at {}: {}", node.target, node.html)?;
            for line in node.failure_summary.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RunAnswer {
    violations: Option<Vec<AxeViolation>>,
    error: Option<String>,
}

/// Injects axe into the page unless it is there already, runs it, returns the violations.
pub(super) async fn run(client: &Client) -> anyhow::Result<Vec<AxeViolation>> {
    let present = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await?;
    if present != true {
        client
            .execute(AXE_SOURCE, vec![])
            .await
            .context("cannot inject axe-core into the page")?;
        let version = client
            .execute("return window.axe && window.axe.version;", vec![])
            .await?;
        if !version.is_string() {
            bail!("axe-core did not load in the page");
        }
    }
    let answer = client
        .execute_async(RUN, vec![])
        .await
        .context("axe.run did not finish")?;
    let answer: RunAnswer =
        serde_json::from_value(answer).context("axe.run returned an unexpected shape")?;
    match (answer.violations, answer.error) {
        (_, Some(error)) => bail!("axe.run failed: {error}"),
        (Some(violations), None) => Ok(violations),
        (None, None) => bail!("axe.run returned nothing"),
    }
}
