//! Label selectors, as a workload's `spec.selector` holds them, to find its pods.
//!
//! Matching is done here for drivers that keep objects themselves; the kubernetes driver sends
//! [`Selector::to_query`] to the API server, which matches the same way.

use std::fmt;

use serde_json::Value;

/// A Kubernetes label selector: every requirement must hold. An empty selector matches every
/// object, so callers that look for a workload's pods refuse one (see [`Selector::is_empty`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operator {
    /// `key=value`, from `matchLabels`.
    Equals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

impl Selector {
    /// Objects whose labels include every one of `labels`.
    pub fn matching_labels<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let requirements = labels
            .into_iter()
            .map(|(key, value)| {
                check_key(key)?;
                check_value(key, value)?;
                Ok(Requirement {
                    key: key.to_owned(),
                    operator: Operator::Equals(value.to_owned()),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { requirements })
    }

    /// Reads a `metav1.LabelSelector` (`matchLabels` and `matchExpressions` with `In`, `NotIn`,
    /// `Exists` and `DoesNotExist`), refusing what the API server would refuse.
    pub fn of_label_selector(selector: &Value) -> Result<Self, String> {
        let Some(selector) = selector.as_object() else {
            return Err("a label selector must be a mapping".to_owned());
        };
        let mut requirements = Vec::new();
        match selector.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(value) = value.as_str() else {
                        return Err(format!("matchLabels {key}: the value must be a string"));
                    };
                    check_key(key)?;
                    check_value(key, value)?;
                    requirements.push(Requirement {
                        key: key.clone(),
                        operator: Operator::Equals(value.to_owned()),
                    });
                }
            }
            Some(_) => return Err("matchLabels must be a mapping".to_owned()),
        }
        match selector.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for expression in expressions {
                    requirements.push(expression_of(expression)?);
                }
            }
            Some(_) => return Err("matchExpressions must be a list".to_owned()),
        }
        Ok(Self { requirements })
    }

    /// Whether the selector has no requirement, i.e. would match every object.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with `labels` (its `metadata.labels`, if any) matches.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let label = |key: &str| labels.and_then(|labels| labels.get(key)?.as_str());
        self.requirements.iter().all(|requirement| {
            match (&requirement.operator, label(&requirement.key)) {
                (Operator::Equals(wanted), found) => found == Some(wanted.as_str()),
                (Operator::In(values), found) => {
                    found.is_some_and(|found| values.iter().any(|value| value == found))
                }
                (Operator::NotIn(values), found) => {
                    !found.is_some_and(|found| values.iter().any(|value| value == found))
                }
                (Operator::Exists, found) => found.is_some(),
                (Operator::DoesNotExist, found) => found.is_none(),
            }
        })
    }

    /// The selector in the API's query syntax (`labelSelector=`): keys and values were
    /// checked, so none can add a requirement of its own.
    pub fn to_query(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, Requirement { key, operator }) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            match operator {
                Operator::Equals(value) => write!(f, "{key}={value}")?,
                Operator::In(values) => write!(f, "{key} in ({})", values.join(","))?,
                Operator::NotIn(values) => write!(f, "{key} notin ({})", values.join(","))?,
                Operator::Exists => write!(f, "{key}")?,
                Operator::DoesNotExist => write!(f, "!{key}")?,
            }
        }
        Ok(())
    }
}

fn expression_of(expression: &Value) -> Result<Requirement, String> {
    let key = expression
        .get("key")
        .and_then(Value::as_str)
        .ok_or("matchExpressions: every expression needs a key")?;
    check_key(key)?;
    let values = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("matchExpressions {key}: values must be strings"))?;
                check_value(key, value)?;
                Ok(value.to_owned())
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err(format!("matchExpressions {key}: values must be a list")),
    };
    let operator = expression.get("operator").and_then(Value::as_str);
    let operator = match (operator, values.is_empty()) {
        (Some("In"), false) => Operator::In(values),
        (Some("NotIn"), false) => Operator::NotIn(values),
        (Some("Exists"), true) => Operator::Exists,
        (Some("DoesNotExist"), true) => Operator::DoesNotExist,
        (Some("In" | "NotIn"), true) => {
            return Err(format!("matchExpressions {key}: In and NotIn need values"));
        }
        (Some("Exists" | "DoesNotExist"), false) => {
            return Err(format!(
                "matchExpressions {key}: Exists and DoesNotExist take no values"
            ));
        }
        (other, _) => {
            return Err(format!(
                "matchExpressions {key}: unknown operator {other:?} (In, NotIn, Exists, \
                 DoesNotExist)"
            ));
        }
    };
    Ok(Requirement {
        key: key.to_owned(),
        operator,
    })
}

/// A label key: an optional DNS prefix and `/`, then a name of letters, digits, `-`, `_`, `.`.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let valid = !name.is_empty()
        && name.len() <= 63
        && prefix.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

/// A label value: at most 63 letters, digits, `-`, `_` and `.` (possibly none).
fn check_value(key: &str, value: &str) -> Result<(), String> {
    if value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(())
    } else {
        Err(format!("label {key}: {value:?} is not a label value"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn selector(value: Value) -> Selector {
        Selector::of_label_selector(&value).unwrap()
    }

    #[test]
    fn match_labels_and_every_operator_of_match_expressions() {
        let selector = selector(json!({
            "matchLabels": {"app": "shop"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "worker"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "app.kubernetes.io/part-of", "operator": "Exists"},
                {"key": "debug", "operator": "DoesNotExist"},
            ]
        }));
        let labels = json!({"app": "shop", "tier": "web", "app.kubernetes.io/part-of": "odoo"});
        assert!(selector.matches(Some(&labels)));
        for (key, value) in [
            ("app", json!("other")),
            ("tier", json!("db")),
            ("track", json!("canary")),
            ("debug", json!("1")),
        ] {
            let mut changed = labels.clone();
            changed[key] = value;
            assert!(!selector.matches(Some(&changed)), "{key}");
        }
        let mut missing = labels.clone();
        missing
            .as_object_mut()
            .unwrap()
            .remove("app.kubernetes.io/part-of");
        assert!(!selector.matches(Some(&missing)));
        assert!(!selector.matches(None));
        assert_eq!(
            selector.to_query(),
            "app=shop,tier in (web,worker),track notin (canary),app.kubernetes.io/part-of,!debug"
        );
    }

    #[test]
    fn an_empty_selector_is_empty_and_refusals_name_the_problem() {
        assert!(selector(json!({})).is_empty());
        assert!(Selector::default().matches(None));
        for (bad, problem) in [
            (json!([]), "mapping"),
            (json!({"matchLabels": {"app": 1}}), "string"),
            (json!({"matchLabels": {"app": "a,b=c"}}), "label value"),
            (json!({"matchLabels": {"a b": "c"}}), "label key"),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "need values",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "no values",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]}),
                "unknown operator",
            ),
            (json!({"matchExpressions": [{"operator": "Exists"}]}), "key"),
        ] {
            let error = Selector::of_label_selector(&bad).unwrap_err();
            assert!(error.contains(problem), "{bad}: {error}");
        }
        let labels = Selector::matching_labels([("app", "web")]).unwrap();
        assert_eq!(labels.to_query(), "app=web");
        assert!(Selector::matching_labels([("app", "a)")]).is_err());
    }
}
