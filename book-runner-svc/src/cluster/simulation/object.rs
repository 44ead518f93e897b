//! Reading and building the JSON objects the controllers deal with: metadata, ownership, label
//! selectors, conditions, generated names and timestamps. Everything here is pure.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::cluster::ObjectRef;

/// The characters Kubernetes draws generated name suffixes from (`rand.String`): no vowels, so
/// that no word appears by chance.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `metadata.name`, or `""`.
pub fn name(object: &Value) -> &str {
    text(object, "/metadata/name")
}

/// `metadata.namespace`, or `""`.
pub fn namespace(object: &Value) -> &str {
    text(object, "/metadata/namespace")
}

/// `kind`, or `""`.
pub fn kind(object: &Value) -> &str {
    text(object, "/kind")
}

/// The string at JSON pointer `pointer`, or `""`.
pub fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The integer at `pointer`, or `default` when absent or not an integer.
pub fn int(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// Whether the boolean at `pointer` is `true`.
pub fn flag(object: &Value, pointer: &str) -> bool {
    object.pointer(pointer).and_then(Value::as_bool) == Some(true)
}

/// `metadata.generation`, which an API server always sets (0 when unknown).
pub fn generation(object: &Value) -> i64 {
    int(object, "/metadata/generation", 0)
}

/// Whether the object is being deleted (it has finalizers left to run).
pub fn deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|stamp| !stamp.is_null())
}

/// The reference of an object read from a cluster.
pub fn reference(object: &Value) -> ObjectRef {
    let namespace = namespace(object);
    ObjectRef {
        api_version: text(object, "/apiVersion").to_owned(),
        kind: kind(object).to_owned(),
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        name: name(object).to_owned(),
    }
}

/// The labels of an object (an empty map when it has none).
pub fn labels(object: &Value) -> Map<String, Value> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The value of label `key`, or `""`.
pub fn label<'a>(object: &'a Value, key: &str) -> &'a str {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The owner reference a controller puts on what it creates: the garbage collector deletes the
/// object with its owner. `uid` is left out when the owner has none (a folder of files).
pub fn owner_reference(owner: &Value) -> Value {
    let mut reference = json!({
        "apiVersion": text(owner, "/apiVersion"),
        "kind": kind(owner),
        "name": name(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    });
    let uid = text(owner, "/metadata/uid");
    if !uid.is_empty() {
        reference["uid"] = json!(uid);
    }
    reference
}

/// Whether `child`'s controller is `owner` (same kind and name, and same uid when both have one).
pub fn controlled_by(child: &Value, owner: &Value) -> bool {
    let owner_uid = text(owner, "/metadata/uid");
    child
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|reference| {
            reference["controller"] == true
                && reference["kind"] == kind(owner)
                && reference["name"] == name(owner)
                && match reference["uid"].as_str() {
                    Some(uid) if !owner_uid.is_empty() => uid == owner_uid,
                    _ => true,
                }
        })
}

/// The objects of `kind` among `objects` that `owner` controls, sorted by name.
pub fn controlled<'a>(objects: &'a [Value], owner: &Value, kind_name: &str) -> Vec<&'a Value> {
    let mut found: Vec<&Value> = objects
        .iter()
        .filter(|object| kind(object) == kind_name && controlled_by(object, owner))
        .collect();
    found.sort_by(|a, b| name(a).cmp(name(b)));
    found
}

/// The object of `kind_name` named `object_name` among `objects`.
pub fn find<'a>(objects: &'a [Value], kind_name: &str, object_name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|object| kind(object) == kind_name && name(object) == object_name)
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`. An empty or
/// absent selector selects nothing, as for workloads.
pub fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"].as_array();
    if match_labels.is_none_or(Map::is_empty) && expressions.is_none_or(Vec::is_empty) {
        return false;
    }
    let labels_match = match_labels
        .into_iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_match = expressions.into_iter().flatten().all(|expression| {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let value = labels.get(key).and_then(Value::as_str);
        match expression["operator"].as_str() {
            Some("In") => value.is_some_and(|value| values.contains(&value)),
            Some("NotIn") => value.is_none_or(|value| !values.contains(&value)),
            Some("Exists") => value.is_some(),
            Some("DoesNotExist") => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// `now` as Kubernetes writes times: RFC 3339, whole seconds, UTC.
pub fn timestamp(now: SystemTime) -> String {
    DateTime::<Utc>::from(now).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Seconds from the time at `pointer` to `now`; `None` when there is no readable time there.
pub fn seconds_since(object: &Value, pointer: &str, now: SystemTime) -> Option<i64> {
    let then = DateTime::parse_from_rfc3339(text(object, pointer)).ok()?;
    Some((DateTime::<Utc>::from(now) - then.with_timezone(&Utc)).num_seconds())
}

/// 32-bit FNV-1a, the hash Kubernetes names ReplicaSets and revisions with.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

/// The hash of a pod template as Kubernetes spells it (`rand.SafeEncodeString` of the decimal
/// hash, e.g. `5d9c7b6f4`): the `pod-template-hash` of a Deployment's ReplicaSets and the
/// suffix of a StatefulSet's revisions. The template is hashed in a canonical form (sorted
/// keys), so that the same template gives the same hash from a file or from an API server.
pub fn template_hash(template: &Value) -> String {
    let digits = fnv32a(canonical(template).as_bytes()).to_string();
    digits
        .bytes()
        .map(|digit| char::from(NAME_ALPHABET[usize::from(digit) % NAME_ALPHABET.len()]))
        .collect()
}

/// JSON text of `value` with the keys of every mapping sorted.
pub fn canonical(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::from(key.as_str()), canonical(&fields[key])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// A generated name `<prefix><suffix>` (as `metadata.generateName` gives), with a suffix of
/// `length` name characters derived from `seed`, the first one `taken` does not refuse. Derived
/// rather than random, so that the simulation stays a pure function.
pub fn generated_name(
    prefix: &str,
    seed: &str,
    length: usize,
    taken: impl Fn(&str) -> bool,
) -> String {
    (0u32..)
        .map(|attempt| {
            let mut state = fnv32a(format!("{seed}/{attempt}").as_bytes());
            let suffix: String = (0..length)
                .map(|_| {
                    let index = usize::try_from(state).unwrap_or(0) % NAME_ALPHABET.len();
                    state = state.wrapping_mul(0x0100_0193) ^ 0x9e37_79b9;
                    char::from(NAME_ALPHABET[index])
                })
                .collect();
            format!("{prefix}{suffix}")
        })
        .find(|candidate| !taken(candidate))
        .unwrap_or_default()
}

/// Lowercase hexadecimal digits derived from `seed`, for identifiers that only need to look
/// right (container ids, image digests).
pub fn hex_digits(seed: &str, length: usize) -> String {
    (0u32..)
        .flat_map(|round| {
            format!("{:08x}", fnv32a(format!("{seed}#{round}").as_bytes())).into_bytes()
        })
        .take(length)
        .map(char::from)
        .collect()
}

/// Sets `condition` (a mapping with `type`, `status`, `reason`, `message`) in `conditions` the
/// way Kubernetes helpers do (`meta.SetStatusCondition`): a condition whose status does not
/// change keeps its `lastTransitionTime`; other fields are replaced.
pub fn set_condition(conditions: &mut Vec<Value>, mut condition: Value, now: &str) {
    let kind = condition["type"].clone();
    match conditions
        .iter_mut()
        .find(|existing| existing["type"] == kind)
    {
        Some(existing) => {
            let transition = if existing["status"] == condition["status"] {
                existing["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            condition["lastTransitionTime"] = transition;
            *existing = condition;
        }
        None => {
            condition["lastTransitionTime"] = json!(now);
            conditions.push(condition);
        }
    }
}

/// The conditions of `status` as a list to edit.
pub fn conditions_of(status: &Value) -> Vec<Value> {
    status["conditions"].as_array().cloned().unwrap_or_default()
}

/// The condition of `kind` in `object`'s status.
pub fn condition<'a>(object: &'a Value, condition_type: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition["type"] == condition_type)
}

/// Whether `object`'s status has condition `condition_type` with status `"True"`.
pub fn condition_true(object: &Value, condition_type: &str) -> bool {
    condition(object, condition_type).is_some_and(|condition| condition["status"] == "True")
}

/// Sets `key` to `count`, or removes it when `count` is 0: the many counts Kubernetes types
/// declare `omitempty`, which an API server never stores as 0.
pub fn put_count(status: &mut Value, key: &str, count: i64) {
    if let Some(fields) = status.as_object_mut() {
        if count == 0 {
            fields.remove(key);
        } else {
            fields.insert(key.to_owned(), json!(count));
        }
    }
}

/// A new object of `api_version`/`kind` named `object_name` in `namespace_name`, controlled by
/// `owner`, with `labels`.
pub fn new_owned(
    api_version: &str,
    kind_name: &str,
    object_name: &str,
    owner: &Value,
    labels: &Map<String, Value>,
) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind_name,
        "metadata": {
            "name": object_name,
            "namespace": namespace(owner),
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), labels));
        assert!(!selects(&json!({"matchLabels": {"app": "db"}}), labels));
        assert!(
            !selects(&json!({}), labels),
            "an empty selector selects nothing"
        );
        let expression = |operator: &str, values: Value| json!({"matchExpressions": [{"key": "tier", "operator": operator, "values": values}]});
        assert!(selects(&expression("In", json!(["front", "back"])), labels));
        assert!(!selects(&expression("NotIn", json!(["front"])), labels));
        assert!(selects(&expression("Exists", json!([])), labels));
        assert!(!selects(&expression("DoesNotExist", json!([])), labels));
    }

    #[test]
    fn hashes_and_names_look_like_kubernetes_ones() {
        let template = json!({"spec": {"containers": [{"name": "a", "image": "nginx"}]}});
        let hash = template_hash(&template);
        assert!(hash.len() >= 8 && hash.len() <= 10, "{hash}");
        assert!(
            hash.bytes().all(|byte| NAME_ALPHABET.contains(&byte)),
            "{hash}"
        );
        // Key order does not matter.
        let reordered: Value =
            serde_json::from_str(r#"{"spec":{"containers":[{"image":"nginx","name":"a"}]}}"#)
                .unwrap();
        assert_eq!(template_hash(&reordered), hash);

        let first = generated_name("web-", "seed", 5, |_| false);
        assert_eq!(first.len(), 9);
        let second = generated_name("web-", "seed", 5, |candidate| candidate == first);
        assert_ne!(first, second);
        assert_eq!(hex_digits("x", 64).len(), 64);
    }

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            json!({"type": "Ready", "status": "False", "reason": "A"}),
            "t1",
        );
        set_condition(
            &mut conditions,
            json!({"type": "Ready", "status": "False", "reason": "B"}),
            "t2",
        );
        assert_eq!(conditions[0]["lastTransitionTime"], "t1");
        assert_eq!(conditions[0]["reason"], "B");
        set_condition(
            &mut conditions,
            json!({"type": "Ready", "status": "True", "reason": "C"}),
            "t3",
        );
        assert_eq!(conditions[0]["lastTransitionTime"], "t3");
        assert_eq!(conditions.len(), 1);
    }
}
