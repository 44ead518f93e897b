//! Manifests and patches as books write them: YAML (JSON is YAML too).

use serde_json::Value;

/// Reads every document of a (possibly multi-document) YAML text, skipping empty documents.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|err| err.to_string())?;
    let documents: Vec<Value> = documents.into_iter().filter(|doc| !doc.is_null()).collect();
    if let Some(position) = documents.iter().position(|doc| !doc.is_object()) {
        return Err(format!("document {} is not a mapping", position + 1));
    }
    Ok(documents)
}

/// Reads one YAML or JSON mapping (a merge patch).
pub fn parse_object(text: &str) -> Result<Value, String> {
    let value: Value = serde_saphyr::from_str(text).map_err(|err| err.to_string())?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("must be a mapping (a JSON merge patch)".to_owned())
    }
}

/// Reads a YAML mapping of label keys to values (numbers and booleans are read as their text).
pub fn label_map(text: &str) -> Result<Vec<(String, String)>, String> {
    let labels: Value = serde_saphyr::from_str(text).map_err(|err| err.to_string())?;
    let Value::Object(labels) = labels else {
        return Err(
            "must be a mapping of label keys to values, e.g. {app.kubernetes.io/part-of: shop}"
                .to_owned(),
        );
    };
    labels
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(_) | Value::Bool(_) => Ok((key, value.to_string())),
            _ => Err(format!("label {key:?} must have a text value")),
        })
        .collect()
}

/// Placeholder shown instead of a secret value.
pub const REDACTED: &str = "<redacted>";

/// Hides the values of every Secret in `documents` (`data` and `stringData`), keeping the keys.
/// Returns whether anything was hidden.
pub fn redact_secrets(documents: &mut [Value]) -> bool {
    let mut redacted = false;
    for document in documents.iter_mut().filter(|doc| doc["kind"] == "Secret") {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = document.get_mut(field) {
                for value in values.values_mut() {
                    *value = Value::String(REDACTED.to_owned());
                    redacted = true;
                }
            }
        }
    }
    redacted
}

/// Writes documents back as one multi-document YAML text.
pub fn to_yaml(documents: &[Value]) -> String {
    documents
        .iter()
        .map(|doc| serde_saphyr::to_string(doc).expect("JSON values serialise to YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_manifests_parse_and_skip_empty_documents() {
        let docs = parse_documents(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\nkind: Service\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Service");
        assert!(parse_documents("- a\n- b\n").is_err());
        assert!(parse_documents("a: [\n").is_err());
    }

    #[test]
    fn secrets_are_redacted_keeping_their_keys() {
        let mut docs = parse_documents(
            "kind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n---\nkind: ConfigMap\ndata: {a: b}\n",
        )
        .unwrap();
        assert!(redact_secrets(&mut docs));
        let text = to_yaml(&docs);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("password") && text.contains(REDACTED),
            "{text}"
        );
        assert_eq!(docs[1]["data"]["a"], "b", "other kinds are untouched");
    }

    #[test]
    fn labels_are_a_mapping_of_text() {
        assert_eq!(
            label_map("{app: web, tier: 2}").unwrap(),
            [
                ("app".to_owned(), "web".to_owned()),
                ("tier".to_owned(), "2".to_owned())
            ]
        );
        assert!(
            label_map("app=web")
                .unwrap_err()
                .contains("mapping of label keys")
        );
        assert!(
            label_map("{app: [a]}")
                .unwrap_err()
                .contains("label \"app\"")
        );
    }

    #[test]
    fn patches_must_be_mappings() {
        assert_eq!(
            parse_object("{\"spec\": {\"replicas\": 0}}").unwrap()["spec"]["replicas"],
            0
        );
        assert_eq!(
            parse_object("spec:\n  shutdown: true\n").unwrap()["spec"]["shutdown"],
            true
        );
        assert!(parse_object("[1]").is_err());
    }
}
