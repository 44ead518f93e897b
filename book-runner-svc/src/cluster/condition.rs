//! Conditions a `wait` step waits for, judged on an object as the cluster stores it.
//!
//! Judging is pure (no I/O), so that every driver polls or watches in its own way and agrees on
//! what "done" means.

use std::{fmt, str::FromStr};

use serde_json::Value;

/// The accepted forms, shown to whoever wrote a condition the parser refuses.
const ACCEPTED_FORMS: &str = "expected one of: available, ready, scaled-down, gone, exists, \
     condition:<Type>, field:<dotted.path>=<value>";

/// What a `wait` step waits for, in the book's text form (e.g. `available`,
/// `condition:Ready`, `field:status.state=ready`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A Deployment-like object has `status.availableReplicas >= spec.replicas`, for its current
    /// generation.
    Available,
    /// A StatefulSet-like object has `status.readyReplicas >= spec.replicas`, for its current
    /// generation.
    Ready,
    /// The object exists and runs no replicas (`status.replicas`, `readyReplicas` and
    /// `availableReplicas` all 0 or absent), for its current generation.
    ScaledDown,
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

    /// Whether the condition holds for `object` (`None`: the object does not exist). Fields of
    /// an unexpected type make it not hold, rather than fail: the wait goes on until the object
    /// is as expected or the step times out.
    pub fn is_met(&self, object: Option<&Value>) -> bool {
        let Some(object) = object else {
            return matches!(self, Self::Gone);
        };
        match self {
            Self::Gone => false,
            Self::Exists => true,
            Self::Available => replicas_reached(object, "availableReplicas"),
            Self::Ready => replicas_reached(object, "readyReplicas"),
            Self::ScaledDown => {
                generation_observed(object)
                    && ["replicas", "readyReplicas", "availableReplicas"]
                        .iter()
                        .all(|field| count(object, &["status", field], 0) == Some(0))
            }
            Self::ConditionTrue(kind) => lookup(object, &["status", "conditions"])
                .and_then(Value::as_array)
                .is_some_and(|conditions| {
                    conditions.iter().any(|condition| {
                        condition.get("type").and_then(Value::as_str) == Some(kind.as_str())
                            && condition.get("status").and_then(Value::as_str) == Some("True")
                    })
                }),
            Self::Field { path, value } => {
                let segments: Vec<&str> = path.split('.').collect();
                match lookup(object, &segments) {
                    Some(Value::String(text)) => text == value,
                    Some(Value::Number(number)) => number.to_string() == *value,
                    Some(Value::Bool(flag)) => flag.to_string() == *value,
                    _ => false,
                }
            }
        }
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
            Self::Gone => f.write_str("gone"),
            Self::Exists => f.write_str("exists"),
            Self::ConditionTrue(kind) => write!(f, "condition:{kind}"),
            Self::Field { path, value } => write!(f, "field:{path}={value}"),
        }
    }
}

/// `status.<field> >= spec.replicas` (replicas default to 1, the status count to 0), for the
/// object's current generation.
fn replicas_reached(object: &Value, field: &str) -> bool {
    let (Some(wanted), Some(reached)) = (
        count(object, &["spec", "replicas"], 1),
        count(object, &["status", field], 0),
    ) else {
        return false;
    };
    reached >= wanted && generation_observed(object)
}

/// Whether the status describes the current spec: a controller that has not yet seen the
/// latest change reports the previous rollout, which must not end a wait.
fn generation_observed(object: &Value) -> bool {
    let observed = lookup(object, &["status", "observedGeneration"]);
    let generation = lookup(object, &["metadata", "generation"]);
    match (observed, generation) {
        (Some(observed), Some(generation)) => match (observed.as_i64(), generation.as_i64()) {
            (Some(observed), Some(generation)) => observed >= generation,
            _ => false,
        },
        _ => true,
    }
}

/// An integer field, `default` when absent or null, `None` when it has another type.
fn count(object: &Value, path: &[&str], default: i64) -> Option<i64> {
    match lookup(object, path) {
        None | Some(Value::Null) => Some(default),
        Some(value) => value.as_i64(),
    }
}

/// The value at `path` (object keys only).
fn lookup<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |value, key| value.get(*key))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn met(text: &str, object: &Value) -> bool {
        Condition::parse(text).unwrap().is_met(Some(object))
    }

    #[test]
    fn parses_and_displays_every_form() {
        for text in [
            "available",
            "ready",
            "scaled-down",
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

    #[test]
    fn only_gone_holds_for_an_absent_object() {
        for text in [
            "available",
            "ready",
            "scaled-down",
            "exists",
            "condition:Ready",
            "field:a=b",
        ] {
            assert!(!Condition::parse(text).unwrap().is_met(None), "{text}");
        }
        assert!(Condition::Gone.is_met(None));
        assert!(!Condition::Gone.is_met(Some(&json!({}))));
        assert!(Condition::Exists.is_met(Some(&json!({}))));
    }

    #[test]
    fn available_compares_replicas_and_generation() {
        assert!(!met("available", &json!({"spec": {"replicas": 3}})));
        assert!(!met(
            "available",
            &json!({"spec": {"replicas": 3}, "status": {"availableReplicas": 2}})
        ));
        assert!(met(
            "available",
            &json!({"spec": {"replicas": 3}, "status": {"availableReplicas": 3}})
        ));
        // spec.replicas defaults to 1.
        assert!(!met("available", &json!({"status": {}})));
        assert!(met(
            "available",
            &json!({"status": {"availableReplicas": 1}})
        ));
        // Zero replicas are available at once.
        assert!(met("available", &json!({"spec": {"replicas": 0}})));
        // A stale status does not count; a missing generation is not checked.
        let stale = json!({"metadata": {"generation": 2}, "spec": {"replicas": 1},
                           "status": {"availableReplicas": 1, "observedGeneration": 1}});
        assert!(!met("available", &stale));
        let current = json!({"metadata": {"generation": 2}, "spec": {"replicas": 1},
                             "status": {"availableReplicas": 1, "observedGeneration": 2}});
        assert!(met("available", &current));
        // Wrong types never hold.
        assert!(!met(
            "available",
            &json!({"spec": {"replicas": "1"}, "status": {"availableReplicas": 1}})
        ));
        assert!(!met(
            "available",
            &json!({"status": {"availableReplicas": true}})
        ));
        assert!(!met(
            "available",
            &json!({"metadata": {"generation": "2"},
                                          "status": {"availableReplicas": 1, "observedGeneration": 2}})
        ));
        // readyReplicas is not availableReplicas.
        assert!(!met("available", &json!({"status": {"readyReplicas": 1}})));
    }

    #[test]
    fn ready_compares_ready_replicas() {
        assert!(!met(
            "ready",
            &json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 1}})
        ));
        assert!(met(
            "ready",
            &json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 2}})
        ));
        assert!(!met(
            "ready",
            &json!({"spec": {"replicas": 2}, "status": {"availableReplicas": 2}})
        ));
        assert!(met("ready", &json!({"spec": {"replicas": 0}})));
        assert!(!met(
            "ready",
            &json!({"metadata": {"generation": 3}, "status": {"readyReplicas": 1, "observedGeneration": 2}})
        ));
        assert!(!met(
            "ready",
            &json!({"status": {"readyReplicas": null, "replicas": 1}})
        ));
    }

    #[test]
    fn scaled_down_needs_no_replicas_at_all() {
        assert!(met("scaled-down", &json!({"spec": {"replicas": 0}})));
        assert!(met(
            "scaled-down",
            &json!({"status": {"replicas": 0, "readyReplicas": 0}})
        ));
        assert!(!met("scaled-down", &json!({"status": {"replicas": 1}})));
        assert!(!met(
            "scaled-down",
            &json!({"status": {"replicas": 0, "readyReplicas": 1}})
        ));
        assert!(!met(
            "scaled-down",
            &json!({"status": {"availableReplicas": 1}})
        ));
        assert!(!met("scaled-down", &json!({"status": {"replicas": "0"}})));
        assert!(!met(
            "scaled-down",
            &json!({"metadata": {"generation": 2}, "status": {"replicas": 0, "observedGeneration": 1}})
        ));
    }

    #[test]
    fn condition_needs_a_true_entry_of_the_type() {
        let object = |conditions: Value| json!({"status": {"conditions": conditions}});
        assert!(met(
            "condition:Ready",
            &object(json!([{"type": "Synced", "status": "False"},
                                                       {"type": "Ready", "status": "True"}]))
        ));
        assert!(!met(
            "condition:Ready",
            &object(json!([{"type": "Ready", "status": "False"}]))
        ));
        assert!(!met(
            "condition:Ready",
            &object(json!([{"type": "Ready", "status": true}]))
        ));
        assert!(!met(
            "condition:Ready",
            &object(json!([{"type": "ready", "status": "True"}]))
        ));
        assert!(!met("condition:Ready", &object(json!({"Ready": "True"}))));
        assert!(!met("condition:Ready", &object(json!([]))));
        assert!(!met("condition:Ready", &json!({"status": {}})));
        assert!(!met("condition:Ready", &json!({})));
    }

    #[test]
    fn field_renders_strings_numbers_and_booleans() {
        let object = json!({"spec": {"shutdown": true, "replicas": 0},
                            "status": {"state": "ready", "postgres": {"ready": 3}, "list": ["ready"],
                                       "nothing": null, "ratio": 1.5}});
        assert!(met("field:status.state=ready", &object));
        assert!(!met("field:status.state=Ready", &object));
        assert!(met("field:spec.shutdown=true", &object));
        assert!(!met("field:spec.shutdown=false", &object));
        assert!(met("field:spec.replicas=0", &object));
        assert!(met("field:status.postgres.ready=3", &object));
        assert!(met("field:status.ratio=1.5", &object));
        // Absent fields, nulls, arrays and objects never hold.
        assert!(!met("field:status.missing=ready", &object));
        assert!(!met("field:status.state.deeper=ready", &object));
        assert!(!met("field:status.nothing=null", &object));
        assert!(!met("field:status.list=ready", &object));
        assert!(!met("field:status.postgres=3", &object));
        assert!(!met("field:status.missing=", &object));
    }
}
