//! What every page shows alike: the layout's data and the words (and shapes) for states.

use std::sync::Arc;

use eyrie_proto::v1 as pb;

use super::assets;

/// The layout's data: the page title, who is signed in, and the sign-out form's CSRF token.
pub struct Chrome {
    /// The page's title (also its `<h1>` unless the page says otherwise).
    pub title: String,
    /// The signed-in token; `None` on the sign-in form and error pages shown without a session.
    pub who: Option<Arc<pb::Token>>,
    /// The session's CSRF token, for the sign-out form (and any other form of the page).
    pub csrf: String,
    /// Links above the title: (text, href), the current page last without a link.
    pub crumbs: Vec<Crumb>,
}

/// One step of the breadcrumb trail.
pub struct Crumb {
    /// What the link says.
    pub text: String,
    /// Where it goes; `None` for the current page.
    pub href: Option<String>,
}

impl Chrome {
    /// The layout of a page seen by nobody signed in.
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            who: None,
            csrf: String::new(),
            crumbs: Vec::new(),
        }
    }

    /// Adds a breadcrumb linking to `href`.
    pub fn crumb(mut self, text: impl Into<String>, href: impl Into<String>) -> Self {
        self.crumbs.push(Crumb {
            text: text.into(),
            href: Some(href.into()),
        });
        self
    }

    /// The signed-in token's display name, or its resource name when it has none.
    pub fn who_name(&self) -> &str {
        match &self.who {
            Some(who) if !who.display_name.is_empty() => &who.display_name,
            Some(who) => &who.name,
            None => "",
        }
    }

    /// URL of the console's stylesheet.
    pub fn css_url(&self) -> &'static str {
        assets::url(assets::CSS)
    }

    /// URL of htmx.
    pub fn htmx_url(&self) -> &'static str {
        assets::url(assets::HTMX)
    }

    /// URL of htmx's SSE extension.
    pub fn htmx_sse_url(&self) -> &'static str {
        assets::url(assets::HTMX_SSE)
    }
}

/// A status in words with a shape beside it (never told by colour alone), and a class for the
/// stylesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Badge {
    /// The word, e.g. "deployed".
    pub label: &'static str,
    /// A shape standing for it, hidden from screen readers (the word is read).
    pub icon: &'static str,
    /// CSS class, `state-*`.
    pub class: &'static str,
}

const fn badge(label: &'static str, icon: &'static str, class: &'static str) -> Badge {
    Badge { label, icon, class }
}

/// A deployment's lifecycle state.
pub fn deployment_state(state: i32) -> Badge {
    match pb::DeploymentState::try_from(state).unwrap_or_default() {
        pb::DeploymentState::Draft => badge("draft", "○", "state-draft"),
        pb::DeploymentState::Initialize => badge("initializing", "◔", "state-initialize"),
        pb::DeploymentState::Deploy => badge("deployed", "●", "state-deploy"),
        pb::DeploymentState::Pause => badge("paused", "❚❚", "state-pause"),
        pb::DeploymentState::Dropped => badge("dropped", "✕", "state-dropped"),
        pb::DeploymentState::Unspecified => badge("unknown", "?", "state-unknown"),
    }
}

/// An operation's action, as a verb.
pub fn action(action: i32) -> &'static str {
    match pb::OperationAction::try_from(action).unwrap_or_default() {
        pb::OperationAction::Deploy => "Deploy",
        pb::OperationAction::Pause => "Pause",
        pb::OperationAction::Drop => "Drop",
        pb::OperationAction::Unspecified => "Action",
    }
}

/// An operation's outcome.
pub fn operation_status(status: i32) -> Badge {
    match pb::OperationStatus::try_from(status).unwrap_or_default() {
        pb::OperationStatus::Running => badge("running", "↻", "status-running"),
        pb::OperationStatus::Succeeded => badge("succeeded", "✓", "status-succeeded"),
        pb::OperationStatus::Failed => badge("failed", "✗", "status-failed"),
        pb::OperationStatus::Unspecified => badge("unknown", "?", "status-unknown"),
    }
}

/// A job's status.
pub fn job_status(status: i32) -> Badge {
    match pb::JobStatus::try_from(status).unwrap_or_default() {
        pb::JobStatus::Queued => badge("queued", "…", "status-queued"),
        pb::JobStatus::Running => badge("running", "↻", "status-running"),
        pb::JobStatus::Succeeded => badge("succeeded", "✓", "status-succeeded"),
        pb::JobStatus::Failed => badge("failed", "✗", "status-failed"),
        pb::JobStatus::Cancelled => badge("cancelled", "⊘", "status-cancelled"),
        pb::JobStatus::Unspecified => badge("unknown", "?", "status-unknown"),
    }
}

/// A book phase, in words.
pub fn phase(phase: i32) -> &'static str {
    match pb::BookPhase::try_from(phase).unwrap_or_default() {
        pb::BookPhase::Initialize => "initialize",
        pb::BookPhase::Deploy => "deploy",
        pb::BookPhase::Pause => "pause",
        pb::BookPhase::Drop => "drop",
        pb::BookPhase::Unspecified => "",
    }
}

/// A deployment group's type, in words.
pub fn deployment_type(kind: i32) -> &'static str {
    match pb::DeploymentType::try_from(kind).unwrap_or_default() {
        pb::DeploymentType::Odoo => "odoo",
        pb::DeploymentType::Pgo => "pgo",
        pb::DeploymentType::Pxc => "pxc",
        pb::DeploymentType::None => "none",
        pb::DeploymentType::Unspecified => "unknown",
    }
}

/// A field change of a diff, in words.
pub fn change_kind(kind: i32) -> &'static str {
    match pb::ChangeKind::try_from(kind).unwrap_or_default() {
        pb::ChangeKind::Added => "added",
        pb::ChangeKind::Removed => "removed",
        pb::ChangeKind::Modified => "changed",
        pb::ChangeKind::Unspecified => "",
    }
}

/// Why a version was recorded, in words.
pub fn version_reason(reason: i32, rollback_to: i64) -> String {
    match pb::VersionReason::try_from(reason).unwrap_or_default() {
        pb::VersionReason::Create => "created".to_owned(),
        pb::VersionReason::Update => "updated".to_owned(),
        pb::VersionReason::Rollback => format!("rolled back to version {rollback_to}"),
        pb::VersionReason::Unspecified => String::new(),
    }
}

/// A timestamp as `2026-01-31 14:05 UTC`; empty when unset.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The same timestamp in RFC 3339, for `<time datetime>`; empty when unset.
pub fn datetime(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The last segment of a resource name (`projects/acme/scopes/dev` → `dev`).
pub fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// "1 running job", "2 running jobs".
pub fn running_jobs(count: i32) -> String {
    match count {
        1 => "1 running job".to_owned(),
        n => format!("{n} running jobs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_words_with_a_shape() {
        let deployed = deployment_state(pb::DeploymentState::Deploy as i32);
        assert_eq!(deployed.label, "deployed");
        assert!(!deployed.icon.is_empty());
        assert_eq!(deployment_state(42).label, "unknown");
    }

    #[test]
    fn times_names_and_counts_read_well() {
        let t = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        };
        assert_eq!(time(Some(&t)), "2023-11-14 22:13:20 UTC");
        assert_eq!(datetime(Some(&t)), "2023-11-14T22:13:20Z");
        assert_eq!(time(None), "");
        assert_eq!(id_of("projects/acme/scopes/dev"), "dev");
        assert_eq!(running_jobs(1), "1 running job");
        assert_eq!(running_jobs(2), "2 running jobs");
    }
}
