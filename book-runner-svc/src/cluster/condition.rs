//! Conditions a `wait` step waits for, in the text forms books write.
//!
//! What each means, judged on an object as the cluster stores it, is in
//! [`wait`](super::wait), shared by every driver.

use std::{fmt, str::FromStr};

/// The accepted forms, shown to whoever wrote a condition the parser refuses.
const ACCEPTED_FORMS: &str = "expected one of: available, ready, scaled-down, complete, gone, \
     exists, condition:<Type>, field:<dotted.path>=<value>";

/// What a `wait` step waits for, in the book's text form (e.g. `available`,
/// `condition:Ready`, `field:status.state=ready`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A Deployment has rolled out, as `kubectl rollout status` means it: its controller
    /// observed the current generation, every replica runs the current template, none of the
    /// old ones is left, and the updated ones are available.
    Available,
    /// A StatefulSet has rolled out, as `kubectl rollout status` means it: current generation
    /// observed, every replica ready, and the rolling update done (up to its partition).
    Ready,
    /// The object exists and runs no replicas (`status.replicas`, `readyReplicas` and
    /// `availableReplicas` all 0 or absent), for its current generation.
    ScaledDown,
    /// A Job has completed, as `kubectl wait --for=condition=complete` means it; a Job that
    /// failed fails the wait.
    Complete,
    /// The object does not exist.
    Gone,
    /// The object exists.
    Exists,
    /// `status.conditions` has an entry of this `type` whose `status` is `"True"`, which is how
    /// operators (cert-manager, CNPG, ...) report readiness.
    ConditionTrue(String),
    /// The value at a dotted path (`status.state`), rendered as text, equals `value`; for
    /// operators that report readiness in a field of their own.
    Field {
        /// Dotted path from the object's root, e.g. `status.postgres.ready`.
        path: String,
        /// Expected text: strings compare as-is, numbers and booleans as JSON renders them.
        value: String,
    },
}

impl Condition {
    /// Parses the text form; the error says which forms are accepted, because it is shown to the
    /// author of the book.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "available" => return Ok(Self::Available),
            "ready" => return Ok(Self::Ready),
            "scaled-down" => return Ok(Self::ScaledDown),
            "complete" => return Ok(Self::Complete),
            "gone" => return Ok(Self::Gone),
            "exists" => return Ok(Self::Exists),
            _ => {}
        }
        if let Some(kind) = text.strip_prefix("condition:") {
            if kind.is_empty() || kind.chars().any(char::is_whitespace) {
                return Err(format!(
                    "invalid condition {text:?}: condition:<Type> needs a type without spaces, \
                     e.g. condition:Ready"
                ));
            }
            return Ok(Self::ConditionTrue(kind.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("field:") {
            let Some((path, value)) = rest.split_once('=') else {
                return Err(format!(
                    "invalid condition {text:?}: field:<dotted.path>=<value> needs an `=`, \
                     e.g. field:status.state=ready"
                ));
            };
            if path
                .split('.')
                .any(|segment| segment.is_empty() || segment.trim() != segment)
            {
                return Err(format!(
                    "invalid condition {text:?}: the path of field:<dotted.path>=<value> needs \
                     non-empty segments separated by dots, e.g. field:status.state=ready"
                ));
            }
            return Ok(Self::Field {
                path: path.to_owned(),
                value: value.to_owned(),
            });
        }
        Err(format!("unknown condition {text:?}: {ACCEPTED_FORMS}"))
    }
}

impl FromStr for Condition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available => f.write_str("available"),
            Self::Ready => f.write_str("ready"),
            Self::ScaledDown => f.write_str("scaled-down"),
            Self::Complete => f.write_str("complete"),
            Self::Gone => f.write_str("gone"),
            Self::Exists => f.write_str("exists"),
            Self::ConditionTrue(kind) => write!(f, "condition:{kind}"),
            Self::Field { path, value } => write!(f, "field:{path}={value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_every_form() {
        for text in [
            "available",
            "ready",
            "scaled-down",
            "complete",
            "gone",
            "exists",
            "condition:Ready",
            "field:status.state=ready",
            "field:spec.shutdown=true",
            "field:status.message=a=b",
            "field:status.note=",
        ] {
            let condition = Condition::parse(text).unwrap();
            assert_eq!(condition.to_string(), text);
            assert_eq!(text.parse::<Condition>().unwrap(), condition);
        }
        assert_eq!(
            Condition::parse("field:status.message=a=b").unwrap(),
            Condition::Field {
                path: "status.message".into(),
                value: "a=b".into()
            }
        );
    }

    #[test]
    fn refuses_unknown_and_malformed_forms() {
        for text in [
            "",
            "Available",
            " available",
            "condition:",
            "condition:Is Ready",
            "field:status.state",
            "field:=x",
            "field:status..state=x",
            "field:.status=x",
            "unknown:x",
        ] {
            let error = Condition::parse(text).unwrap_err();
            assert!(
                error.contains("e.g.") || error.contains("expected one of"),
                "{text}: {error}"
            );
        }
        assert!(
            Condition::parse("bogus")
                .unwrap_err()
                .contains("field:<dotted.path>=<value>")
        );
    }
}
