//! The Deployment controller, after Kubernetes 1.20 `pkg/controller/deployment` (`sync.go`,
//! `rolling.go`, `recreate.go`, `progress.go`, `util/deployment_util.go`).
//!
//! Each pass syncs once: it finds the ReplicaSet of the current pod template (named
//! `<deployment>-<pod-template-hash>`), creates it when missing, scales it and the old ones,
//! and writes the status computed from the ReplicaSets' statuses.
//! - `RollingUpdate` (the default; maxSurge and maxUnavailable 25%): the new ReplicaSet grows
//!   up to `replicas + maxSurge` pods, old ones shrink as long as `replicas - maxUnavailable`
//!   pods stay available, so a rollout goes replica by replica.
//! - `Recreate`: old ReplicaSets go to 0 first; the new one is created or scaled only once no
//!   old pod runs.
//!
//! Status: `observedGeneration`, `replicas`, `updatedReplicas`, `readyReplicas`,
//! `availableReplicas`, `unavailableReplicas` and the conditions `Available`
//! (`MinimumReplicasAvailable`/`MinimumReplicasUnavailable`) and `Progressing`
//! (`NewReplicaSetCreated`, `FoundNewReplicaSet`, `ReplicaSetUpdated`,
//! `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`).

use serde_json::{Map, Value, json};

use super::{
    Change, Pass,
    object::{
        controlled, generation, int, label, name, new_owned, put_count, reference, seconds_since,
        template_hash, text,
    },
    replicaset::is_active,
    status_change,
};

/// The label that ties a ReplicaSet and its pods to one pod template.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The annotation holding a ReplicaSet's revision number.
const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// apps/v1 defaults.
const DEFAULT_PROGRESS_DEADLINE_SECONDS: i64 = 600;
const DEFAULT_REVISION_HISTORY_LIMIT: i64 = 10;

/// One pass of the Deployment controller over `deployment`.
pub fn reconcile(deployment: &Value, pass: &Pass<'_>) -> Vec<Change> {
    Sync::new(deployment, pass).run()
}

/// The state of one sync.
struct Sync<'a> {
    deployment: &'a Value,
    pass: &'a Pass<'a>,
    replicas: i64,
    hash: String,
    /// The ReplicaSet of the current template, once found or created.
    new_set: Option<Value>,
    /// The other ReplicaSets, oldest first.
    old_sets: Vec<Value>,
    changes: Vec<Change>,
    /// A Progressing condition set while syncing, before the status is computed.
    progressing: Option<Value>,
}

impl<'a> Sync<'a> {
    fn new(deployment: &'a Value, pass: &'a Pass<'a>) -> Self {
        let template = deployment
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_default();
        let hash = template_hash(&template);
        let sets = controlled(pass.objects, deployment, "ReplicaSet");
        let (new_sets, mut old_sets): (Vec<&Value>, Vec<&Value>) = sets
            .into_iter()
            .partition(|set| label(set, TEMPLATE_HASH_LABEL) == hash);
        old_sets.sort_by_key(|set| revision(set));
        Self {
            deployment,
            pass,
            replicas: int(deployment, "/spec/replicas", 1),
            hash,
            new_set: new_sets.first().map(|set| (*set).clone()),
            old_sets: old_sets.into_iter().cloned().collect(),
            changes: Vec::new(),
            progressing: None,
        }
    }

    fn run(mut self) -> Vec<Change> {
        if self.strategy() == "Recreate" {
            self.recreate();
        } else {
            self.rolling();
        }
        self.sync_status();
        self.changes
    }

    fn strategy(&self) -> &str {
        match text(self.deployment, "/spec/strategy/type") {
            "" => "RollingUpdate",
            strategy => strategy,
        }
    }

    fn rolling(&mut self) {
        let (surge, _) = self.surge_and_unavailable();
        let old_total: i64 = self.old_sets.iter().map(spec_replicas).sum();
        let Some(new_set) = self.new_set.clone() else {
            // `NewRSNewReplicas`: as many as the surge leaves room for.
            let first = (self.replicas + surge - old_total).clamp(0, self.replicas);
            self.create_new_set(first);
            return;
        };
        self.found_new_set();
        let new_replicas = spec_replicas(&new_set);
        if new_replicas > self.replicas || (old_total == 0 && new_replicas != self.replicas) {
            // A scaling event (pause, resume): the one active ReplicaSet follows `replicas`.
            self.scale(&new_set, self.replicas);
            return;
        }
        if new_replicas < self.replicas {
            let max_total = self.replicas + surge;
            let total = old_total + new_replicas;
            if total < max_total {
                let scaled = new_replicas + (max_total - total).min(self.replicas - new_replicas);
                self.scale(&new_set, scaled);
                return;
            }
        }
        if old_total > 0 {
            self.scale_down_old(&new_set);
        } else {
            self.cleanup();
        }
    }

    /// `reconcileOldReplicaSets`: shrinks old ReplicaSets as far as availability allows,
    /// unhealthy replicas first (they serve nobody, and would block the rollout).
    fn scale_down_old(&mut self, new_set: &Value) {
        let (_, unavailable) = self.surge_and_unavailable();
        let all_pods: i64 =
            self.old_sets.iter().map(spec_replicas).sum::<i64>() + spec_replicas(new_set);
        let min_available = self.replicas - unavailable;
        let new_unavailable = spec_replicas(new_set) - int(new_set, "/status/availableReplicas", 0);
        let budget = all_pods - min_available - new_unavailable;
        if budget <= 0 {
            return;
        }
        let mut planned: Vec<(Value, i64)> = self
            .old_sets
            .iter()
            .map(|set| (set.clone(), spec_replicas(set)))
            .collect();
        let mut cleaned = 0;
        for (set, target) in &mut planned {
            if cleaned >= budget {
                break;
            }
            let available = int(set, "/status/availableReplicas", 0);
            if *target == 0 || *target == available {
                continue;
            }
            let cut = (budget - cleaned).min(*target - available);
            *target -= cut;
            cleaned += cut;
        }
        let available: i64 = self
            .old_sets
            .iter()
            .chain(std::iter::once(new_set))
            .map(|set| int(set, "/status/availableReplicas", 0))
            .sum();
        let mut down = available - min_available;
        for (_, target) in &mut planned {
            if down <= 0 {
                break;
            }
            let cut = (*target).min(down);
            *target -= cut;
            down -= cut;
        }
        for (set, target) in planned {
            if target != spec_replicas(&set) {
                self.scale(&set, target);
            }
        }
    }

    fn recreate(&mut self) {
        let active_old: Vec<Value> = self
            .old_sets
            .iter()
            .filter(|set| spec_replicas(set) > 0)
            .cloned()
            .collect();
        if !active_old.is_empty() {
            for set in active_old {
                self.scale(&set, 0);
            }
            if self.new_set.is_some() {
                self.found_new_set();
            }
            return;
        }
        let old_pods_run = self.old_sets.iter().any(|set| {
            controlled(self.pass.objects, set, "Pod")
                .into_iter()
                .any(is_active)
        });
        if old_pods_run {
            return;
        }
        match self.new_set.clone() {
            None => self.create_new_set(self.replicas),
            Some(new_set) => {
                self.found_new_set();
                if spec_replicas(&new_set) != self.replicas {
                    self.scale(&new_set, self.replicas);
                }
                self.cleanup();
            }
        }
    }

    /// maxSurge (rounded up) and maxUnavailable (rounded down) in pods, as
    /// `ResolveFenceposts` gives them; both 0 makes maxUnavailable 1.
    fn surge_and_unavailable(&self) -> (i64, i64) {
        if self.strategy() != "RollingUpdate" {
            return (0, 0);
        }
        let resolve = |pointer: &str, round_up: bool| match self.deployment.pointer(pointer) {
            Some(Value::Number(number)) => number.as_i64().unwrap_or(0),
            Some(Value::String(text)) => {
                let percent: i64 = text.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = self.replicas * percent;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
            _ => {
                let scaled = self.replicas * 25;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
        };
        let surge = resolve("/spec/strategy/rollingUpdate/maxSurge", true);
        let unavailable = resolve("/spec/strategy/rollingUpdate/maxUnavailable", false);
        if surge == 0 && unavailable == 0 {
            return (0, 1);
        }
        (surge, unavailable.min(self.replicas))
    }

    fn create_new_set(&mut self, replicas: i64) {
        let set_name = format!("{}-{}", name(self.deployment), self.hash);
        let template = self
            .deployment
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_default();
        let mut labels: Map<String, Value> = template
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        labels.insert(TEMPLATE_HASH_LABEL.to_owned(), json!(self.hash));
        let mut set = new_owned("apps/v1", "ReplicaSet", &set_name, self.deployment, &labels);
        let next_revision = self.old_sets.iter().map(revision).max().unwrap_or(0) + 1;
        set["metadata"]["annotations"] = json!({
            REVISION_ANNOTATION: next_revision.to_string(),
            "deployment.kubernetes.io/desired-replicas": self.replicas.to_string(),
            "deployment.kubernetes.io/max-replicas":
                (self.replicas + self.surge_and_unavailable().0).to_string(),
        });
        let mut selector = self
            .deployment
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_else(|| json!({}));
        selector["matchLabels"][TEMPLATE_HASH_LABEL] = json!(self.hash);
        let mut set_template = template;
        set_template["metadata"]["labels"] = json!(labels);
        set["spec"] = json!({"replicas": replicas, "selector": selector, "template": set_template});
        self.progressing = Some(progressing(
            true,
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{set_name}\""),
            &self.pass.timestamp(),
        ));
        self.changes.push(Change::Create(set.clone()));
        self.new_set = Some(set);
    }

    /// `FoundNewReplicaSet`, when the ReplicaSet exists and nothing says so yet.
    fn found_new_set(&mut self) {
        let has_progressing = self
            .deployment
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Progressing"));
        if let (false, Some(set)) = (has_progressing, &self.new_set) {
            self.progressing = Some(progressing(
                true,
                "FoundNewReplicaSet",
                &format!("Found new replica set \"{}\"", name(set)),
                &self.pass.timestamp(),
            ));
        }
    }

    fn scale(&mut self, set: &Value, replicas: i64) {
        let mut scaled = set.clone();
        scaled["spec"]["replicas"] = json!(replicas);
        scaled["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
            json!(self.replicas.to_string());
        // The status below counts what is planned, as the controller's in-memory copies do.
        if let Some(new_set) = &mut self.new_set
            && name(new_set) == name(set)
        {
            new_set["spec"]["replicas"] = json!(replicas);
        }
        for old in &mut self.old_sets {
            if name(old) == name(set) {
                old["spec"]["replicas"] = json!(replicas);
            }
        }
        self.changes.push(Change::Update(scaled));
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`, once the rollout is done.
    fn cleanup(&mut self) {
        let limit = int(
            self.deployment,
            "/spec/revisionHistoryLimit",
            DEFAULT_REVISION_HISTORY_LIMIT,
        );
        let empty: Vec<&Value> = self
            .old_sets
            .iter()
            .filter(|set| spec_replicas(set) == 0 && int(set, "/status/replicas", 0) == 0)
            .collect();
        let surplus = empty
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        let deletes: Vec<Change> = empty
            .into_iter()
            .take(surplus)
            .map(|set| Change::Delete(reference(set)))
            .collect();
        self.changes.extend(deletes);
    }

    /// `calculateStatus` and `syncRolloutStatus`.
    fn sync_status(&mut self) {
        let all: Vec<&Value> = self.old_sets.iter().chain(self.new_set.as_ref()).collect();
        let sum = |pointer: &str| -> i64 { all.iter().map(|set| int(set, pointer, 0)).sum() };
        let replicas = sum("/status/replicas");
        let updated = self
            .new_set
            .as_ref()
            .map_or(0, |set| int(set, "/status/replicas", 0));
        let ready = sum("/status/readyReplicas");
        let available = sum("/status/availableReplicas");
        let planned: i64 = all.iter().map(|set| spec_replicas(set)).sum();
        let now = self.pass.timestamp();
        let old_status = self
            .deployment
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        let mut status = old_status.clone();
        status["observedGeneration"] = json!(generation(self.deployment));
        put_count(&mut status, "replicas", replicas);
        put_count(&mut status, "updatedReplicas", updated);
        put_count(&mut status, "readyReplicas", ready);
        put_count(&mut status, "availableReplicas", available);
        put_count(
            &mut status,
            "unavailableReplicas",
            (planned - available).max(0),
        );
        let mut conditions: Vec<Value> =
            status["conditions"].as_array().cloned().unwrap_or_default();
        if let Some(condition) = self.progressing.take() {
            set_deployment_condition(&mut conditions, condition);
        }
        let (_, unavailable) = self.surge_and_unavailable();
        let minimum = if available >= self.replicas - unavailable {
            condition_of(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                &now,
            )
        } else {
            condition_of(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                &now,
            )
        };
        set_deployment_condition(&mut conditions, minimum);
        status["conditions"] = json!(conditions);
        self.sync_progress(&old_status, &mut status, &now);
        if status["conditions"].as_array().is_some_and(Vec::is_empty) {
            status
                .as_object_mut()
                .map(|fields| fields.remove("conditions"));
        }
        self.changes.extend(status_change(self.deployment, status));
    }

    /// The Progressing condition from how the rollout moved since the last status.
    fn sync_progress(&self, old_status: &Value, status: &mut Value, now: &str) {
        let deadline = int(
            self.deployment,
            "/spec/progressDeadlineSeconds",
            DEFAULT_PROGRESS_DEADLINE_SECONDS,
        );
        if deadline == i64::from(i32::MAX) {
            return;
        }
        let mut conditions: Vec<Value> =
            status["conditions"].as_array().cloned().unwrap_or_default();
        let current = conditions
            .iter()
            .find(|c| c["type"] == "Progressing")
            .cloned();
        let count = |status: &Value, key: &str| int(status, &format!("/{key}"), 0);
        let complete_already = count(status, "replicas") == count(status, "updatedReplicas")
            && current
                .as_ref()
                .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable");
        if complete_already {
            return;
        }
        let set_name = self.new_set.as_ref().map(|set| name(set).to_owned());
        let subject = match &set_name {
            Some(set) => format!("ReplicaSet \"{set}\""),
            None => format!("Deployment \"{}\"", name(self.deployment)),
        };
        let complete = count(status, "updatedReplicas") == self.replicas
            && count(status, "replicas") == self.replicas
            && count(status, "availableReplicas") == self.replicas
            && count(status, "observedGeneration") >= generation(self.deployment);
        let old_of = |status: &Value| count(status, "replicas") - count(status, "updatedReplicas");
        let progressed = count(status, "updatedReplicas") > count(old_status, "updatedReplicas")
            || old_of(status) < old_of(old_status)
            || count(status, "readyReplicas") > count(old_status, "readyReplicas")
            || count(status, "availableReplicas") > count(old_status, "availableReplicas");
        if complete {
            let message = format!("{subject} has successfully progressed.");
            set_deployment_condition(
                &mut conditions,
                progressing(true, "NewReplicaSetAvailable", &message, now),
            );
        } else if progressed {
            let mut condition = progressing(
                true,
                "ReplicaSetUpdated",
                &format!("{subject} is progressing."),
                now,
            );
            if let Some(current) = &current {
                if current["status"] == "True" {
                    condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
                }
                conditions.retain(|c| c["type"] != "Progressing");
            }
            conditions.push(condition);
        } else if let Some(current) = &current {
            let timed_out = current["reason"] == "ProgressDeadlineExceeded"
                || seconds_since(current, "/lastUpdateTime", self.pass.now)
                    .is_some_and(|elapsed| elapsed > deadline);
            if timed_out {
                let message = format!("{subject} has timed out progressing.");
                set_deployment_condition(
                    &mut conditions,
                    progressing(false, "ProgressDeadlineExceeded", &message, now),
                );
            }
        }
        status["conditions"] = json!(conditions);
    }
}

/// `SetDeploymentCondition`: a condition with the same status and reason is kept as is; one with
/// the same status keeps its `lastTransitionTime`; the new one goes last.
fn set_deployment_condition(conditions: &mut Vec<Value>, mut condition: Value) {
    if let Some(current) = conditions.iter().find(|c| c["type"] == condition["type"]) {
        if current["status"] == condition["status"] && current["reason"] == condition["reason"] {
            return;
        }
        if current["status"] == condition["status"] {
            condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
    }
    conditions.retain(|c| c["type"] != condition["type"]);
    conditions.push(condition);
}

fn progressing(holds: bool, reason: &str, message: &str, now: &str) -> Value {
    condition_of("Progressing", holds, reason, message, now)
}

fn condition_of(
    condition_type: &str,
    holds: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    json!({
        "type": condition_type,
        "status": if holds { "True" } else { "False" },
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

fn spec_replicas(set: &Value) -> i64 {
    int(set, "/spec/replicas", 1)
}

fn revision(set: &Value) -> i64 {
    set.pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|revision| revision.parse().ok())
        .unwrap_or(0)
}
