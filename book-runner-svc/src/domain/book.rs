//! Deployment Books: what a book declares, and its text form (YAML or JSON).

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

/// The kind of deployment a book is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentType {
    /// An Odoo server.
    Odoo,
    /// A PostgreSQL cluster run by Crunchy PGO.
    Pgo,
    /// A Percona XtraDB cluster.
    Pxc,
    /// A generic application.
    None,
}

impl DeploymentType {
    /// Every type, in the contract's order.
    pub const ALL: [Self; 4] = [Self::Odoo, Self::Pgo, Self::Pxc, Self::None];

    /// Lower-case name, as books and templates write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Odoo => "odoo",
            Self::Pgo => "pgo",
            Self::Pxc => "pxc",
            Self::None => "none",
        }
    }

    /// Reads a lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// The lifecycle phase a book serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Namespace, secrets, volumes.
    Initialize,
    /// Workload, service, ingress, or the operator's resource.
    Deploy,
    /// Scale to zero, or the operator's pause.
    Pause,
    /// Delete what initialize and deploy created.
    Drop,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Self; 4] = [Self::Initialize, Self::Deploy, Self::Pause, Self::Drop];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Deploy => "deploy",
            Self::Pause => "pause",
            Self::Drop => "drop",
        }
    }

    /// Reads a lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// A book's content, exactly as written and read (YAML or JSON). Stored as is, and copied into
/// every job that runs it, so that editing a book never changes the history of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookSpec {
    /// Book id: the last segment of its resource name. Optional in a text (empty when left out):
    /// the request that carries the text names the book.
    #[serde(default)]
    pub name: String,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// What the book does; drop books say what happens to the data.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `odoo`, `pgo`, `pxc` or `none`.
    #[serde(rename = "type")]
    pub deployment_type: String,
    /// The deployment parameters the book reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterSpec>,
    /// What the book does, in order.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

/// A parameter a book reads from `deployment.parameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Key in `deployment.parameters`.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A Deploy of a deployment lacking it is refused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Value used when the deployment does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One step of a book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Shown to people watching the job.
    pub name: String,
    /// Step kind, e.g. `k8s.apply`.
    pub uses: String,
    /// `if`: a Jinja expression (no `{{ }}`); the step runs only where it is true.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Arguments: Jinja templates rendered with the deployment's fields.
    #[serde(default, rename = "with", skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, String>,
    /// Longest one attempt may take (default [`DEFAULT_STEP_TIMEOUT`]).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Further attempts after a failure, with backoff.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
}

/// Timeout of a step that names none.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(120);

impl StepSpec {
    /// The timeout this step runs with.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_STEP_TIMEOUT)
    }
}

fn is_false(value: &bool) -> bool {
    !value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// The text formats a book is read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookFormat {
    /// YAML (what people write).
    Yaml,
    /// JSON (what programs write).
    Json,
}

/// A book text that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl BookSpec {
    /// Reads a book from `text`.
    pub fn parse(format: BookFormat, text: &str) -> Result<Self, ParseError> {
        match format {
            BookFormat::Yaml => {
                serde_saphyr::from_str(text).map_err(|err| ParseError(err.to_string()))
            }
            BookFormat::Json => {
                serde_json::from_str(text).map_err(|err| ParseError(err.to_string()))
            }
        }
    }

    /// Writes the book as `format`.
    pub fn to_text(&self, format: BookFormat) -> String {
        match format {
            BookFormat::Yaml => serde_saphyr::to_string(self).expect("books serialise to YAML"),
            BookFormat::Json => {
                serde_json::to_string_pretty(self).expect("books serialise to JSON")
            }
        }
    }

    /// The type, when it is one of the known ones.
    pub fn known_type(&self) -> Option<DeploymentType> {
        DeploymentType::parse(&self.deployment_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = r#"
name: web-deploy
description: Runs the web app.
type: none
parameters:
  - name: port
    default: "8080"
  - name: host
    required: true
steps:
  - name: Apply
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{ namespace }}}
    timeout: 90s
    retries: 2
  - name: Wait
    uses: k8s.wait
    with: {api_version: apps/v1, kind: Deployment, name: web, condition: available}
  - name: Delete the Ingress
    uses: k8s.delete
    if: not deployment.parameters.host
    with: {api_version: networking.k8s.io/v1, kind: Ingress, name: web}
"#;

    #[test]
    fn yaml_books_read_with_defaults_and_durations() {
        let book = BookSpec::parse(BookFormat::Yaml, BOOK).unwrap();
        assert_eq!(book.name, "web-deploy");
        assert_eq!(book.known_type(), Some(DeploymentType::None));
        assert_eq!(book.parameters[0].default.as_deref(), Some("8080"));
        assert!(book.parameters[1].required);
        assert_eq!(book.steps[0].effective_timeout(), Duration::from_secs(90));
        assert_eq!(book.steps[0].retries, 2);
        assert_eq!(book.steps[1].effective_timeout(), DEFAULT_STEP_TIMEOUT);
        assert_eq!(book.steps[1].arguments["condition"], "available");
        assert_eq!(book.steps[1].condition, None);
        assert_eq!(
            book.steps[2].condition.as_deref(),
            Some("not deployment.parameters.host")
        );
    }

    #[test]
    fn books_round_trip_through_yaml_and_json() {
        let book = BookSpec::parse(BookFormat::Yaml, BOOK).unwrap();
        for format in [BookFormat::Yaml, BookFormat::Json] {
            let text = book.to_text(format);
            assert_eq!(
                BookSpec::parse(format, &text).unwrap(),
                book,
                "{format:?}:\n{text}"
            );
        }
        // Written as `if`, and only by the steps that have one.
        let yaml = book.to_text(BookFormat::Yaml);
        assert_eq!(yaml.matches("if: ").count(), 1, "{yaml}");
        assert!(
            book.to_text(BookFormat::Json)
                .contains(r#""if": "not deployment.parameters.host""#)
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err =
            BookSpec::parse(BookFormat::Yaml, "name: x\ntype: none\nstepz: []\n").unwrap_err();
        assert!(err.0.contains("stepz"), "{err}");
    }
}
