//! What each [`Condition`] means on one object, as the tools people know judge it:
//! `kubectl rollout status` for Deployments and StatefulSets, `kubectl wait` for Jobs and
//! conditions.

use serde_json::Value;

use super::Verdict;
use crate::cluster::Condition;

/// The longest text quoted from an object (an operator's message); the rest is cut.
const MAX_QUOTE: usize = 300;

/// The longest value of a field shown while waiting for it to change.
const MAX_SHOWN_VALUE: usize = 64;

/// Judges `condition` on `object` (`None`: it does not exist), pods aside.
pub(super) fn judge(condition: &Condition, object: Option<&Value>) -> Verdict {
    let Some(object) = object else {
        return match condition {
            Condition::Gone => Verdict::Holds,
            _ => Verdict::Pending("it does not exist yet".to_owned()),
        };
    };
    match condition {
        Condition::Gone => Verdict::Pending(being_deleted(object)),
        Condition::Exists => Verdict::Holds,
        Condition::Available => deployment(object),
        Condition::Ready => stateful_set(object),
        Condition::ScaledDown => scaled_down(object),
        Condition::Complete => job(object),
        Condition::ConditionTrue(kind) => condition_true(object, kind),
        Condition::Field { path, value } => field(object, path, value),
    }
}

/// `kubectl rollout status deployment`: the controller saw the current spec, did not give up,
/// updated every replica, removed the old ones, and the updated ones are available.
fn deployment(object: &Value) -> Verdict {
    if let Some(waiting) = unobserved(object) {
        return waiting;
    }
    if let Some(progressing) = find_condition(object, "Progressing")
        && text(progressing, "reason") == Some("ProgressDeadlineExceeded")
    {
        return Verdict::Failed(with_quote(
            "exceeded its progress deadline",
            text(progressing, "message"),
        ));
    }
    let counts = (
        count(object, "/spec/replicas", 1),
        count(object, "/status/updatedReplicas", 0),
        count(object, "/status/replicas", 0),
        count(object, "/status/availableReplicas", 0),
    );
    let (Ok(wanted), Ok(updated), Ok(replicas), Ok(available)) = counts else {
        return not_a_number(
            counts
                .0
                .err()
                .or(counts.1.err())
                .or(counts.2.err())
                .or(counts.3.err()),
        );
    };
    if updated < wanted {
        return Verdict::Pending(format!("{updated} of {wanted} new replicas updated"));
    }
    if replicas > updated {
        return Verdict::Pending(format!(
            "{} old replicas pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Verdict::Pending(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    Verdict::Holds
}

/// `kubectl rollout status statefulset`: the controller saw the current spec, every replica
/// is ready, and a rolling update reached its partition (or, without one, every pod runs the
/// update revision). An `OnDelete` StatefulSet updates pods only when they are deleted, so
/// readiness is all there is to wait for.
fn stateful_set(object: &Value) -> Verdict {
    if let Some(waiting) = unobserved(object) {
        return waiting;
    }
    let counts = (
        count(object, "/spec/replicas", 1),
        count(object, "/status/readyReplicas", 0),
        count(object, "/status/updatedReplicas", 0),
    );
    let (Ok(wanted), Ok(ready), Ok(updated)) = counts else {
        return not_a_number(counts.0.err().or(counts.1.err()));
    };
    if ready < wanted {
        return Verdict::Pending(format!("{ready} of {wanted} replicas ready"));
    }
    let strategy = object
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    if strategy != "RollingUpdate" {
        return Verdict::Holds;
    }
    const PARTITION: &str = "/spec/updateStrategy/rollingUpdate/partition";
    if object
        .pointer(PARTITION)
        .is_some_and(|partition| !partition.is_null())
    {
        let partition = match count(object, PARTITION, 0) {
            Ok(partition) => partition,
            Err(pointer) => return not_a_number(Some(pointer)),
        };
        let due = wanted - partition;
        return if updated < due {
            Verdict::Pending(format!(
                "{updated} of {due} new replicas updated (partition {partition})"
            ))
        } else {
            Verdict::Holds
        };
    }
    let revision = |field: &str| {
        object
            .pointer(&format!("/status/{field}"))
            .and_then(Value::as_str)
    };
    match (revision("currentRevision"), revision("updateRevision")) {
        (current, Some(update)) if current != Some(update) => Verdict::Pending(format!(
            "{updated} of {wanted} replicas at the new revision {update}"
        )),
        _ => Verdict::Holds,
    }
}

/// No replica left, for the current generation when the status says which it describes.
fn scaled_down(object: &Value) -> Verdict {
    if let Some(waiting) = stale(object) {
        return waiting;
    }
    let mut running = 0;
    for field in ["replicas", "readyReplicas", "availableReplicas"] {
        match count(object, &format!("/status/{field}"), 0) {
            Ok(replicas) => running = running.max(replicas),
            Err(path) => return not_a_number(Some(path)),
        }
    }
    if running == 0 {
        Verdict::Holds
    } else {
        Verdict::Pending(format!("{running} replicas still running"))
    }
}

/// `kubectl wait --for=condition=complete job/...`, and a Job the controller declared failed
/// (or about to fail: `FailureTarget`) fails the wait with the controller's reason.
fn job(object: &Value) -> Verdict {
    for failure in ["Failed", "FailureTarget"] {
        if let Some(failed) = find_condition(object, failure)
            && text(failed, "status") == Some("True")
        {
            return Verdict::Failed(
                reason_and_message(failed).unwrap_or_else(|| failure.to_owned()),
            );
        }
    }
    if find_condition(object, "Complete")
        .is_some_and(|complete| text(complete, "status") == Some("True"))
    {
        return Verdict::Holds;
    }
    let pods = |field: &str| count(object, &format!("/status/{field}"), 0).unwrap_or(0);
    Verdict::Pending(format!(
        "not complete: {} active, {} succeeded, {} failed pods",
        pods("active"),
        pods("succeeded"),
        pods("failed")
    ))
}

/// A `True` condition of type `kind`, reported for the current generation: both the status's
/// own `observedGeneration` and the condition's (metav1.Condition has one) count when present.
fn condition_true(object: &Value, kind: &str) -> Verdict {
    if let Some(waiting) = stale(object) {
        return waiting;
    }
    let Some(condition) = find_condition(object, kind) else {
        return Verdict::Pending(format!("no condition {kind} yet"));
    };
    if let (Some(generation), Some(observed)) = (
        generation(object),
        condition.get("observedGeneration").and_then(Value::as_i64),
    ) && observed < generation
    {
        return Verdict::Pending(format!(
            "condition {kind} describes generation {observed}, the object is at {generation}"
        ));
    }
    match text(condition, "status") {
        Some("True") => Verdict::Holds,
        status => Verdict::Pending(with_quote(
            &format!("condition {kind} is {}", status.unwrap_or("unknown")),
            reason_and_message(condition).as_deref(),
        )),
    }
}

/// The value at `path` renders as `value`. A path into `status` is read only once the status
/// describes the current generation (when it says which it describes); a path elsewhere is
/// what was written, so always current.
fn field(object: &Value, path: &str, value: &str) -> Verdict {
    let in_status = path == "status" || path.starts_with("status.");
    if in_status && let Some(waiting) = stale(object) {
        return waiting;
    }
    let found = path
        .split('.')
        .try_fold(object, |value, key| value.get(key));
    let rendered = match found {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::Bool(flag)) => Some(flag.to_string()),
        _ => None,
    };
    match rendered {
        Some(rendered) if rendered == value => Verdict::Holds,
        // Only status values are shown: a field elsewhere may be a Secret's data.
        Some(rendered) if in_status && rendered.len() <= MAX_SHOWN_VALUE => {
            Verdict::Pending(format!("{path} is {rendered:?}"))
        }
        Some(_) => Verdict::Pending(format!("{path} is not {value:?} yet")),
        None if found.is_none() || found == Some(&Value::Null) => {
            Verdict::Pending(format!("{path} is not set yet"))
        }
        None => Verdict::Pending(format!("{path} is not a string, number or boolean")),
    }
}

/// What keeps an object that should be gone: its finalizers, or nothing yet.
fn being_deleted(object: &Value) -> String {
    if object.pointer("/metadata/deletionTimestamp").is_none() {
        return "it still exists".to_owned();
    }
    let finalizers: Vec<&str> = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if finalizers.is_empty() {
        "it is being deleted".to_owned()
    } else {
        format!(
            "it is being deleted, after finalizers {}",
            finalizers.join(", ")
        )
    }
}

/// The object's own explanation of its state, for a failure: `status.message`,
/// `status.messages` (PXC writes a list), or the messages of its conditions.
pub(super) fn explanation(object: &Value) -> Option<String> {
    if let Some(message) = object.pointer("/status/message").and_then(Value::as_str)
        && !message.trim().is_empty()
    {
        return Some(quote(message));
    }
    // The Percona XtraDB Cluster operator writes `status.message` as a list of strings.
    for pointer in ["/status/message", "/status/messages"] {
        let listed: Vec<&str> = object
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !listed.is_empty() {
            return Some(quote(&listed.join("; ")));
        }
    }
    let conditions: Vec<String> = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|condition| text(condition, "message").is_some_and(|m| !m.trim().is_empty()))
        .filter_map(|condition| {
            let kind = text(condition, "type")?;
            Some(format!("{kind}: {}", reason_and_message(condition)?))
        })
        .collect();
    (!conditions.is_empty()).then(|| quote(&conditions.join("; ")))
}

/// The explanation a matching `condition:` fail condition gives: its own reason and message.
pub(super) fn condition_explanation(object: &Value, kind: &str) -> Option<String> {
    find_condition(object, kind).and_then(reason_and_message)
}

/// Whether the status is known to describe an older generation, as the Deployment and
/// StatefulSet controllers always say: a missing `observedGeneration` is generation 0. An
/// object without `metadata.generation` (written by hand to a folder) has nothing to compare.
fn unobserved(object: &Value) -> Option<Verdict> {
    let generation = generation(object)?;
    let observed = observed_generation(object).unwrap_or(0);
    (observed < generation).then(|| awaiting_generation(generation))
}

/// Whether the status says it describes an older generation; one that does not say (many
/// operators) is taken as current.
pub(super) fn stale(object: &Value) -> Option<Verdict> {
    let generation = generation(object)?;
    let observed = observed_generation(object)?;
    (observed < generation).then(|| awaiting_generation(generation))
}

/// Whether the status says it describes the current generation, or the object has none to
/// compare (written by hand to a folder). Declared failures count at once only then.
pub(super) fn says_current(object: &Value) -> bool {
    match (generation(object), observed_generation(object)) {
        (None, _) => true,
        (Some(generation), Some(observed)) => observed >= generation,
        (Some(_), None) => false,
    }
}

/// `object` with its status (and its conditions) taken as describing the current generation.
pub(super) fn as_if_current(object: &Value) -> Value {
    let mut current = object.clone();
    let generation = generation(object);
    if let (Some(generation), Some(status)) = (
        generation,
        current.get_mut("status").and_then(Value::as_object_mut),
    ) {
        status.insert("observedGeneration".to_owned(), Value::from(generation));
        if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
            for condition in conditions.iter_mut().filter_map(Value::as_object_mut) {
                condition.remove("observedGeneration");
            }
        }
    }
    current
}

fn awaiting_generation(generation: i64) -> Verdict {
    Verdict::Pending(format!(
        "waiting for the controller to observe generation {generation}"
    ))
}

/// Whether the status describes the current generation, as strictly as `kubectl rollout
/// status`: pods of a workload whose controller has not seen the new spec are the old ones.
pub(super) fn observed(object: &Value) -> bool {
    unobserved(object).is_none()
}

fn generation(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

fn observed_generation(object: &Value) -> Option<i64> {
    object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
}

/// The entry of `status.conditions` of type `kind`.
fn find_condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|condition| text(condition, "type") == Some(kind))
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `reason: message` of a condition, or whichever it has.
fn reason_and_message(condition: &Value) -> Option<String> {
    let present = |key| text(condition, key).filter(|text| !text.trim().is_empty());
    match (present("reason"), present("message")) {
        (Some(reason), Some(message)) if reason != message => {
            Some(quote(&format!("{reason}: {message}")))
        }
        (_, Some(message)) => Some(quote(message)),
        (Some(reason), None) => Some(quote(reason)),
        (None, None) => None,
    }
}

fn with_quote(what: &str, quoted: Option<&str>) -> String {
    match quoted {
        Some(quoted) if !quoted.trim().is_empty() => format!("{what}: {}", quote(quoted)),
        _ => what.to_owned(),
    }
}

/// Text from the cluster, on one line and at most [`MAX_QUOTE`] characters.
pub(super) fn quote(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

/// An integer at `pointer`, `default` when absent or null; the pointer when it is another type.
fn count<'a>(object: &Value, pointer: &'a str, default: i64) -> Result<i64, &'a str> {
    match object.pointer(pointer) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_i64().ok_or(pointer),
    }
}

/// A field that should be a count is not: the wait goes on (someone may fix the object) and
/// says why.
fn not_a_number(pointer: Option<&str>) -> Verdict {
    let field = pointer
        .unwrap_or_default()
        .trim_start_matches('/')
        .replace('/', ".");
    Verdict::Pending(format!("{field} is not a number"))
}
