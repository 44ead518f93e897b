//! What an API server does with the simulation's writes, for stores that have none: a folder of
//! files ([`admit_create`], [`admit_update`], [`admit_status`]) and [`Store`], a namespace in
//! memory that runs passes (the simulation's own tests, a simulated cluster).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{
    Change, Faults, collect_garbage,
    object::{deleting, kind, name, timestamp},
    reconcile_namespace,
};

/// The parts of an object that are not its spec: changing them makes no new generation.
const NOT_SPEC: [&str; 2] = ["metadata", "status"];

/// `object` as an API server stores it at creation: a uid, a creation time, generation 1
/// (pods have none), and no status but, for pods, the `Pending` phase.
pub fn admit_create(object: &Value, uid: &str, now: SystemTime) -> Value {
    let mut stored = with_uid(object, uid);
    let pod = kind(object) == "Pod";
    if let Some(metadata) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("creationTimestamp".to_owned(), json!(timestamp(now)));
        metadata.remove("resourceVersion");
        if !pod {
            metadata.insert("generation".to_owned(), json!(1));
        }
    }
    if let Some(fields) = stored.as_object_mut() {
        if pod {
            fields.insert("status".to_owned(), json!({"phase": "Pending"}));
        } else {
            fields.remove("status");
        }
    }
    stored
}

/// `object` with the `uid` an API server gives it at creation, and what the server derives from
/// it: a Job's generated selector (`controller-uid`), with the labels it selects on its pod
/// template (`controller-uid`, `job-name`), unless the Job chose its own (`manualSelector`).
pub fn with_uid(object: &Value, uid: &str) -> Value {
    let mut stored = object.clone();
    if !stored["metadata"].is_object() {
        return stored;
    }
    stored["metadata"]["uid"] = json!(uid);
    let generates_selector = kind(object) == "Job"
        && object.pointer("/spec/selector").is_none()
        && object.pointer("/spec/manualSelector") != Some(&json!(true))
        && stored["spec"]["template"].is_object();
    if generates_selector {
        stored["spec"]["selector"] = json!({"matchLabels": {"controller-uid": uid}});
        let labels = &mut stored["spec"]["template"]["metadata"]["labels"];
        labels["controller-uid"] = json!(uid);
        labels["job-name"] = json!(name(object));
    }
    stored
}

/// `stored` after an update that writes `written` (spec and metadata; status is left as
/// stored), with the generation an API server gives: one more when anything outside metadata
/// and status changed. `None` when nothing changes.
pub fn admit_update(stored: &Value, written: &Value) -> Option<Value> {
    let mut updated = written.clone();
    let fields = updated.as_object_mut()?;
    match stored.get("status") {
        Some(status) => fields.insert("status".to_owned(), status.clone()),
        None => fields.remove("status"),
    };
    if let Some(metadata) = updated.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
        for kept in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
        ] {
            match stored.pointer(&format!("/metadata/{kept}")) {
                Some(value) => metadata.insert(kept.to_owned(), value.clone()),
                None => metadata.remove(kept),
            };
        }
    }
    let mut before = stored.clone();
    if let Some(metadata) = before.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    if updated == before {
        return None;
    }
    if spec_of(&updated) != spec_of(stored)
        && let Some(generation) = stored
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
    {
        updated["metadata"]["generation"] = json!(generation + 1);
    }
    Some(updated)
}

/// `stored` with `status` written through its status subresource.
pub fn admit_status(stored: &Value, status: &Value) -> Value {
    let mut updated = stored.clone();
    updated["status"] = status.clone();
    updated
}

fn spec_of(object: &Value) -> Value {
    let mut spec = object.clone();
    if let Some(fields) = spec.as_object_mut() {
        fields.retain(|key, _| !NOT_SPEC.contains(&key.as_str()));
    }
    spec
}

/// One namespace in memory, playing the API server (uids, generations, resource versions,
/// finalizers, garbage collection) while the simulation plays the controllers.
#[derive(Debug, Clone, Default)]
pub struct Store {
    objects: Vec<Value>,
    writes: u64,
}

impl Store {
    /// An empty namespace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every object, as stored.
    pub fn objects(&self) -> &[Value] {
        &self.objects
    }

    /// The object of `kind_name` named `object_name`.
    pub fn get(&self, kind_name: &str, object_name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|object| kind(object) == kind_name && name(object) == object_name)
    }

    /// What a user does with `manifest`: creates it, or replaces the spec and metadata of the
    /// object it names (a whole-object apply).
    pub fn apply(&mut self, manifest: &Value, now: SystemTime) {
        match self.position(kind(manifest), name(manifest)) {
            Some(index) => {
                let mut written = self.objects[index].clone();
                for (key, value) in manifest.as_object().into_iter().flatten() {
                    if key != "status" {
                        written[key] = value.clone();
                    }
                }
                self.update(index, &written);
            }
            None => self.create(manifest, now),
        }
    }

    /// Deletes an object: at once, or once its finalizers are gone (marked until then).
    pub fn delete(&mut self, kind_name: &str, object_name: &str, now: SystemTime) {
        let Some(index) = self.position(kind_name, object_name) else {
            return;
        };
        let finalizers = self.objects[index]
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|finalizers| !finalizers.is_empty());
        if !finalizers {
            self.objects.remove(index);
            return;
        }
        if deleting(&self.objects[index]) {
            return;
        }
        let object = &mut self.objects[index];
        object["metadata"]["deletionTimestamp"] = json!(timestamp(now));
        if let Some(generation) = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
        {
            object["metadata"]["generation"] = json!(generation + 1);
        }
        self.bump(index);
    }

    /// One pass: every controller's changes, then the garbage collector's. Returns the changes
    /// that were applied (a change made stale by an earlier one of the pass is dropped, as a
    /// conflict would drop it).
    pub fn pass(&mut self, faults: &Faults, now: SystemTime) -> Vec<Change> {
        let read = self.objects.clone();
        let mut applied = Vec::new();
        for change in reconcile_namespace(&read, faults, now) {
            if self.apply_change(&change, &read, now) {
                applied.push(change);
            }
        }
        for target in collect_garbage(&self.objects) {
            let change = Change::Delete(target);
            if self.apply_change(&change, &read, now) {
                applied.push(change);
            }
        }
        applied
    }

    /// Runs passes until one changes nothing; returns how many changed something. Panics after
    /// `limit` passes: the simulation must settle.
    pub fn settle(&mut self, faults: &Faults, now: SystemTime, limit: usize) -> usize {
        for passes in 0..limit {
            if self.pass(faults, now).is_empty() {
                return passes;
            }
        }
        panic!("the simulation did not settle within {limit} passes");
    }

    /// Applies one change against the namespace as it was `read`; false when the object changed
    /// since (or, for a creation, already exists).
    fn apply_change(&mut self, change: &Change, read: &[Value], now: SystemTime) -> bool {
        let target = change.target();
        let position = self.position(&target.kind, &target.name);
        let unchanged = |store: &Self, index: usize| {
            let version = store.objects[index].pointer("/metadata/resourceVersion");
            read.iter()
                .find(|object| kind(object) == target.kind && name(object) == target.name)
                .is_some_and(|seen| seen.pointer("/metadata/resourceVersion") == version)
        };
        match (change, position) {
            (Change::Create(object), None) => {
                self.create(object, now);
                true
            }
            (Change::Update(object), Some(index)) if unchanged(self, index) => {
                self.update(index, object)
            }
            (Change::Status { status, .. }, Some(index)) if unchanged(self, index) => {
                self.objects[index] = admit_status(&self.objects[index], status);
                self.bump(index);
                true
            }
            (Change::Delete(_), Some(index)) => {
                let object = &self.objects[index];
                let (kind_name, object_name) = (kind(object).to_owned(), name(object).to_owned());
                self.delete(&kind_name, &object_name, now);
                true
            }
            _ => false,
        }
    }

    fn create(&mut self, object: &Value, now: SystemTime) {
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.writes + 1);
        self.objects.push(admit_create(object, &uid, now));
        let index = self.objects.len() - 1;
        self.bump(index);
    }

    fn update(&mut self, index: usize, written: &Value) -> bool {
        let Some(updated) = admit_update(&self.objects[index], written) else {
            return false;
        };
        let finalized = deleting(&updated)
            && updated
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if finalized {
            self.objects.remove(index);
            return true;
        }
        self.objects[index] = updated;
        self.bump(index);
        true
    }

    fn bump(&mut self, index: usize) {
        self.writes += 1;
        self.objects[index]["metadata"]["resourceVersion"] = json!(self.writes.to_string());
    }

    fn position(&self, kind_name: &str, object_name: &str) -> Option<usize> {
        self.objects
            .iter()
            .position(|object| kind(object) == kind_name && name(object) == object_name)
    }
}
