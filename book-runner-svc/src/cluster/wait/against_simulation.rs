//! The rules of waits, judged after every pass of the simulated controllers (written after
//! their upstream code): a wait holds exactly when the rollout is done, and a lost rollout
//! fails instead of holding or hanging.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::cluster::simulation::{Faults, store::Store};

/// A fixed clock: `seconds` after an arbitrary start.
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

/// Judges `wait` on the object of `kind` named `name` and its pods, as a driver does: pods
/// and ReplicaSets read by the selector, then those of the current template kept.
fn judge_in(store: &Store, wait: &WaitSpec, kind: &str, name: &str) -> Verdict {
    let object = store.get(kind, name);
    let pods = match object.and_then(|object| wait.pod_query(kind, object)) {
        None => Vec::new(),
        Some(query) => {
            let matching = |listed: &str| -> Vec<Value> {
                store
                    .objects()
                    .iter()
                    .filter(|o| {
                        o["kind"] == listed && query.selector.matches(o.pointer("/metadata/labels"))
                    })
                    .cloned()
                    .collect()
            };
            query.current(matching("Pod"), &matching("ReplicaSet"))
        }
    };
    wait.judge(object, &pods)
}

/// Runs passes from `start` until the wait ends or the simulation settles; returns the last
/// verdict, every pending reason seen, and the time reached.
fn run(
    store: &mut Store,
    faults: &Faults,
    start: u64,
    wait: &WaitSpec,
    (kind, name): (&str, &str),
) -> (Verdict, Vec<String>, u64) {
    let mut told = Vec::new();
    for second in start..start + 400 {
        let verdict = judge_in(store, wait, kind, name);
        match &verdict {
            Verdict::Pending(why) => {
                if told.last() != Some(why) {
                    told.push(why.clone());
                }
            }
            _ => return (verdict, told, second),
        }
        if store.pass(faults, at(second)).is_empty() {
            return (judge_in(store, wait, kind, name), told, second + 1);
        }
    }
    panic!("the simulation did not settle in 400 passes; told {told:?}");
}

fn deployment(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": image}]}},
        },
    })
}

/// Live pods of the Deployment, by image.
fn images(store: &Store) -> Vec<String> {
    store
        .objects()
        .iter()
        .filter(|o| o["kind"] == "Pod" && o.pointer("/metadata/deletionTimestamp").is_none())
        .map(|pod| {
            pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

#[test]
fn available_holds_when_the_simulated_rollout_is_done_and_not_before() {
    let faults = Faults {
        unpullable_images: ["odoo:bad".to_owned()].into(),
        ..Faults::default()
    };
    let wait = WaitSpec::new(Condition::Available);
    let web = ("Deployment", "web");
    let mut store = Store::new();
    store.apply(&deployment("odoo:17"), at(0));
    let (verdict, _, now) = run(&mut store, &faults, 0, &wait, web);
    assert_eq!(verdict, Verdict::Holds);
    assert_eq!(images(&store), ["odoo:17"; 3]);

    // A new image: the wait holds only once no pod of the old template is left.
    store.apply(&deployment("odoo:18"), at(now));
    let (verdict, told, now) = run(&mut store, &faults, now, &wait, web);
    assert_eq!(verdict, Verdict::Holds, "told {told:?}");
    assert_eq!(images(&store), ["odoo:18"; 3], "told {told:?}");
    assert_eq!(
        told[0],
        "waiting for the controller to observe generation 2"
    );
    assert!(
        told.iter().any(|why| why.contains("new replicas updated")),
        "{told:?}"
    );

    // An image that cannot be pulled: the wait fails with the kubelet's reason, and never
    // holds on the old pods that keep serving.
    store.apply(&deployment("odoo:bad"), at(now));
    let (verdict, told, _) = run(&mut store, &faults, now, &wait, web);
    let Verdict::Failed(reason) = verdict else {
        panic!("expected a failure, got {verdict:?} after {told:?}");
    };
    assert!(
        reason.starts_with("pod web-") && reason.contains("/web: ImagePullBackOff: "),
        "{reason}"
    );
}

#[test]
fn complete_follows_the_simulated_job_to_its_end_either_way() {
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "shop"},
               "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "run", "image": "odoo:17"}]}}}})
    };
    let faults = Faults {
        failing_jobs: ["broken".to_owned()].into(),
        ..Faults::default()
    };
    let wait = WaitSpec::new(Condition::Complete);
    let mut store = Store::new();
    store.apply(&job("init"), at(0));
    store.apply(&job("broken"), at(0));
    let (verdict, _, _) = run(&mut store.clone(), &faults, 0, &wait, ("Job", "init"));
    assert_eq!(verdict, Verdict::Holds);
    let (verdict, told, _) = run(&mut store, &faults, 0, &wait, ("Job", "broken"));
    let Verdict::Failed(reason) = verdict else {
        panic!("expected a failure, got {verdict:?} after {told:?}");
    };
    assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
}

#[test]
fn ready_holds_when_the_simulated_stateful_set_runs_its_new_revision_everywhere() {
    let set = |image: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "replicas": 3,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                             "spec": {"containers": [{"name": "db", "image": image}]}},
            },
        })
    };
    let faults = Faults {
        crashing_images: ["mysql:crash".to_owned()].into(),
        ..Faults::default()
    };
    let wait = WaitSpec::new(Condition::Ready);
    let db = ("StatefulSet", "db");
    let mut store = Store::new();
    store.apply(&set("mysql:8.0"), at(0));
    let (verdict, told, now) = run(&mut store, &faults, 0, &wait, db);
    assert_eq!(verdict, Verdict::Holds, "told {told:?}");
    assert_eq!(images(&store), ["mysql:8.0"; 3]);

    store.apply(&set("mysql:8.4"), at(now));
    let (verdict, told, now) = run(&mut store, &faults, now, &wait, db);
    assert_eq!(verdict, Verdict::Holds, "told {told:?}");
    assert_eq!(images(&store), ["mysql:8.4"; 3], "told {told:?}");

    // A crashing image fails the wait with the kubelet's back-off.
    store.apply(&set("mysql:crash"), at(now));
    let (verdict, told, _) = run(&mut store, &faults, now, &wait, db);
    let Verdict::Failed(reason) = verdict else {
        panic!("expected a failure, got {verdict:?} after {told:?}");
    };
    assert!(reason.contains("CrashLoopBackOff"), "{reason}");
}
