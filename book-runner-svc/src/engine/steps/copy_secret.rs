//! `k8s.copy_secret`: copies keys of a Secret into a Secret of the deployment's namespace.
//!
//! A pod can only read Secrets of its own namespace, but some credentials are made elsewhere:
//! PGO writes `<cluster>-pguser-<user>` in the PostgresCluster's namespace, which an Odoo
//! deployment of the same project needs. Reading the source goes through the same confinement
//! as any read (the project's other deployments' namespaces, or its boundary); the copy is
//! applied on every run, so a rotated password reaches the consumer at its next deploy. Values
//! never leave this function except into the cluster: the log names keys only.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{argument, describe, required};
use crate::{
    cluster::{Cluster, ObjectRef},
    domain::manifest::label_map,
};

/// Annotation naming where a copy came from, for whoever finds it in the namespace.
const COPIED_FROM: &str = "eyrie.dev/copied-from";

/// Runs the step: reads `from_namespace`/`from_name`, writes `namespace`/`name` with the
/// `keys` asked for (every key when empty), labelled with `labels`.
pub(super) async fn copy_secret(
    arguments: &BTreeMap<String, String>,
    cluster: &dyn Cluster,
    say: &impl Fn(String),
) -> Result<(), String> {
    let source = ObjectRef {
        api_version: "v1".to_owned(),
        kind: "Secret".to_owned(),
        namespace: Some(required(arguments, "from_namespace")?.trim().to_owned()),
        name: required(arguments, "from_name")?.trim().to_owned(),
    };
    let name = required(arguments, "name")?.trim();
    let namespace = argument(arguments, "namespace").map(str::trim);
    let wanted: Vec<&str> = argument(arguments, "keys")
        .map(|keys| keys.split(',').map(str::trim).collect())
        .unwrap_or_default();

    let Some(secret) = cluster.get(&source).await.map_err(describe)? else {
        return Err(format!("{source} not found"));
    };
    let data = selected_data(&secret, &wanted).map_err(|problem| format!("{source}: {problem}"))?;
    let keys: Vec<String> = data.keys().cloned().collect();

    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/managed-by".to_owned(), json!("eyrie"));
    if let Some(text) = argument(arguments, "labels") {
        for (key, value) in label_map(text)? {
            labels.insert(key, Value::String(value));
        }
    }
    let from = format!(
        "{}/{}",
        source.namespace.as_deref().unwrap_or_default(),
        source.name
    );
    let mut metadata = json!({
        "name": name,
        "labels": labels,
        "annotations": { COPIED_FROM: from },
    });
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }
    let copy = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata,
        "data": data,
    });
    let target = ObjectRef::of_manifest(&copy).map_err(describe)?;
    // Forced: the copy is ours alone; a person who edited it by hand is overruled, as the
    // source is the truth.
    cluster.apply(&copy, true).await.map_err(describe)?;
    say(format!(
        "{target}: keys {} copied from {source}",
        keys.join(", ")
    ));
    Ok(())
}

/// The `data` entries of `secret` named in `wanted` (all of them when `wanted` is empty),
/// still base64 as stored. A missing key is an error naming it, never its neighbours' values.
fn selected_data(secret: &Value, wanted: &[&str]) -> Result<Map<String, Value>, String> {
    let data = secret.get("data").and_then(Value::as_object);
    let empty = Map::new();
    let data = data.unwrap_or(&empty);
    if wanted.is_empty() {
        if data.is_empty() {
            return Err("holds no data".to_owned());
        }
        return Ok(data.clone());
    }
    let mut selected = Map::new();
    for key in wanted {
        match data.get(*key) {
            Some(value @ Value::String(_)) => {
                selected.insert((*key).to_owned(), value.clone());
            }
            _ => return Err(format!("has no key {key:?}")),
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_keys_asked_for_or_all() {
        let secret = json!({"data": {"password": "cw==", "host": "aA==", "user": "dQ=="}});
        let some = selected_data(&secret, &["password", "host"]).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["host", "password"]);
        assert_eq!(some["password"], "cw==");
        assert_eq!(selected_data(&secret, &[]).unwrap().len(), 3);
    }

    #[test]
    fn a_missing_key_is_named_without_values() {
        let secret = json!({"data": {"password": "c2VjcmV0"}});
        let err = selected_data(&secret, &["passwd"]).unwrap_err();
        assert_eq!(err, "has no key \"passwd\"");
        assert!(!err.contains("c2VjcmV0"));
        assert_eq!(selected_data(&json!({}), &[]).unwrap_err(), "holds no data");
    }
}
