//! Sequences of statuses each controller writes, pass after pass, on the in-memory store.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Faults, object::text, store::Store};

/// A fixed clock: `seconds` after an arbitrary start.
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

/// Runs passes (one second apart, from `start`) until one changes nothing, calling `watch`
/// with the store after each; returns the time reached.
fn run(store: &mut Store, faults: &Faults, start: u64, mut watch: impl FnMut(&Store)) -> u64 {
    for second in start..start + 200 {
        let changed = !store.pass(faults, at(second)).is_empty();
        watch(store);
        if !changed {
            return second + 1;
        }
    }
    panic!("the simulation did not settle in 200 passes");
}

/// The successive distinct values of `pointer` in the object of `kind`/`name` while running.
fn history(
    store: &mut Store,
    faults: &Faults,
    start: u64,
    kind: &str,
    name: &str,
    pointers: &[&str],
) -> (Vec<Value>, u64) {
    let value_in = |store: &Store| {
        let object = store.get(kind, name).cloned().unwrap_or(Value::Null);
        Value::Array(
            pointers
                .iter()
                .map(|pointer| object.pointer(pointer).cloned().unwrap_or(Value::Null))
                .collect(),
        )
    };
    // What the status said before the controllers saw the change counts too.
    let mut seen: Vec<Value> = vec![value_in(store)];
    let end = run(store, faults, start, |store| {
        let value = value_in(store);
        if seen.last() != Some(&value) {
            seen.push(value);
        }
    });
    (seen, end)
}

fn pods<'a>(store: &'a Store, prefix: &str) -> Vec<&'a Value> {
    store
        .objects()
        .iter()
        .filter(|o| o["kind"] == "Pod" && text(o, "/metadata/name").starts_with(prefix))
        .collect()
}

fn deployment(replicas: i64, image: &str, strategy: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": strategy},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    })
}

/// `kubectl rollout status`: the Deployment's current template is rolled out and available.
fn rolled_out(deployment: &Value) -> bool {
    let count = |key: &str| {
        deployment
            .pointer(&format!("/status/{key}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    count("observedGeneration") >= deployment["metadata"]["generation"].as_i64().unwrap_or(0)
        && count("updatedReplicas") == replicas
        && count("replicas") == count("updatedReplicas")
        && count("availableReplicas") == count("updatedReplicas")
}

#[test]
fn a_deployment_rolls_out_replica_by_replica_and_reports_it() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(&deployment(2, "nginx:1", "RollingUpdate"), at(0));
    let mut statuses = Vec::new();
    let end = run(&mut store, &faults, 1, |store| {
        let web = store.get("Deployment", "web").unwrap();
        let reason = |kind: &str, field: &str| {
            super::object::condition(web, kind).map_or(Value::Null, |c| c[field].clone())
        };
        let value = json!([
            web["status"]["updatedReplicas"],
            web["status"]["availableReplicas"],
            reason("Progressing", "reason"),
            reason("Available", "status"),
        ]);
        if statuses.last() != Some(&value) {
            statuses.push(value);
        }
    });
    assert_eq!(
        statuses,
        [
            json!([null, null, "NewReplicaSetCreated", "False"]),
            json!([2, null, "ReplicaSetUpdated", "False"]),
            json!([2, 2, "NewReplicaSetAvailable", "True"]),
        ]
    );
    let web = store.get("Deployment", "web").unwrap().clone();
    assert!(rolled_out(&web));

    // A new image: the generation moves, the new ReplicaSet grows while the old one shrinks,
    // never below the available minimum, and the rollout is not reported done before its end.
    let mut changed = deployment(2, "nginx:2", "RollingUpdate");
    changed["metadata"]["uid"] = web["metadata"]["uid"].clone();
    store.apply(&changed, at(end));
    assert_eq!(
        store.get("Deployment", "web").unwrap()["metadata"]["generation"],
        2
    );
    let mut done_too_early = false;
    let mut progressing = Vec::new();
    run(&mut store, &faults, end + 1, |store| {
        let web = store.get("Deployment", "web").unwrap();
        let old_pods = pods(store, "web-")
            .into_iter()
            .filter(|pod| text(pod, "/spec/containers/0/image") == "nginx:1")
            .count();
        done_too_early |= rolled_out(web) && old_pods > 0;
        let reason = super::object::condition(web, "Progressing")
            .map_or(Value::Null, |c| c["reason"].clone());
        if progressing.last() != Some(&reason) {
            progressing.push(reason);
        }
        // maxUnavailable is 25% of 2, rounded down: 0.
        let ready = pods(store, "web-")
            .into_iter()
            .filter(|pod| super::object::condition_true(pod, "Ready"))
            .count();
        assert!(ready >= 2, "{ready} ready pods during the rollout");
    });
    assert!(!done_too_early);
    assert_eq!(
        progressing,
        [
            json!("NewReplicaSetCreated"),
            json!("ReplicaSetUpdated"),
            json!("NewReplicaSetAvailable")
        ]
    );
    let web = store.get("Deployment", "web").unwrap();
    assert!(rolled_out(web));
    assert_eq!(pods(&store, "web-").len(), 2);
    assert!(
        pods(&store, "web-")
            .iter()
            .all(|pod| text(pod, "/spec/containers/0/image") == "nginx:2")
    );
    let sets: Vec<i64> = store
        .objects()
        .iter()
        .filter(|o| o["kind"] == "ReplicaSet")
        .map(|set| set["spec"]["replicas"].as_i64().unwrap())
        .collect();
    assert_eq!(sets.len(), 2);
    assert!(sets.contains(&0) && sets.contains(&2), "{sets:?}");
}

#[test]
fn recreate_stops_every_old_pod_before_starting_new_ones_and_scaling_to_zero_empties_it() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(&deployment(1, "odoo:17", "Recreate"), at(0));
    let end = run(&mut store, &faults, 1, |_| {});
    store.apply(&deployment(1, "odoo:18", "Recreate"), at(end));
    let end = run(&mut store, &faults, end + 1, |store| {
        let images: Vec<&str> = pods(store, "web-")
            .iter()
            .map(|pod| text(pod, "/spec/containers/0/image"))
            .collect();
        assert!(
            !(images.contains(&"odoo:17") && images.contains(&"odoo:18")),
            "{images:?}"
        );
    });
    assert!(rolled_out(store.get("Deployment", "web").unwrap()));

    // Pause: replicas 0, no pod left, and a status that says so.
    store.apply(&deployment(0, "odoo:18", "Recreate"), at(end));
    run(&mut store, &faults, end + 1, |_| {});
    assert!(pods(&store, "web-").is_empty());
    let status = &store.get("Deployment", "web").unwrap()["status"];
    assert_eq!(status["observedGeneration"], 3);
    assert!(
        status.get("replicas").is_none() && status.get("availableReplicas").is_none(),
        "{status}"
    );
}

#[test]
fn an_unpullable_image_leaves_pods_in_image_pull_back_off_and_the_rollout_undone() {
    let faults = Faults {
        unpullable_images: ["nginx:404".to_owned()].into(),
        ..Faults::default()
    };
    let mut store = Store::new();
    store.apply(&deployment(1, "nginx:404", "RollingUpdate"), at(0));
    let mut reasons = Vec::new();
    run(&mut store, &faults, 1, |store| {
        if let Some(pod) = pods(store, "web-").first() {
            let reason = pod
                .pointer("/status/containerStatuses/0/state/waiting/reason")
                .cloned()
                .unwrap_or(Value::Null);
            if reasons.last() != Some(&reason) {
                reasons.push(reason);
            }
        }
    });
    assert_eq!(
        reasons,
        [
            Value::Null,
            json!("ContainerCreating"),
            json!("ErrImagePull"),
            json!("ImagePullBackOff")
        ]
    );
    let pod = pods(&store, "web-")[0];
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "Back-off pulling image \"nginx:404\""
    );
    assert_eq!(pod["status"]["phase"], "Pending");
    let web = store.get("Deployment", "web").unwrap();
    assert!(!rolled_out(web));
    assert_eq!(web["status"]["unavailableReplicas"], 1);
}

#[test]
fn a_crashing_image_loops_with_the_kubelets_back_off() {
    let faults = Faults {
        crashing_images: ["crash:1".to_owned()].into(),
        ..Faults::default()
    };
    let mut store = Store::new();
    store.apply(&deployment(1, "crash:1", "RollingUpdate"), at(0));
    run(&mut store, &faults, 1, |_| {});
    let pod = pods(&store, "web-")[0];
    let container = &pod["status"]["containerStatuses"][0];
    assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
    let message = container["state"]["waiting"]["message"].as_str().unwrap();
    let expected = format!(
        "back-off 10s restarting failed container=web pod={}_shop({})",
        text(pod, "/metadata/name"),
        text(pod, "/metadata/uid")
    );
    assert_eq!(message, expected);
    assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(container["restartCount"], 1);
    assert_eq!(pod["status"]["phase"], "Running");
}

fn stateful_set(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": image}]},
            },
        },
    })
}

#[test]
fn a_stateful_set_starts_pods_in_order_and_stops_them_in_reverse() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(&stateful_set(3, "mysql:8"), at(0));
    let mut order = Vec::new();
    let end = run(&mut store, &faults, 1, |store| {
        let names: Vec<String> = pods(store, "db-")
            .iter()
            .map(|p| text(p, "/metadata/name").to_owned())
            .collect();
        for (index, name) in names.iter().enumerate() {
            if !order.contains(name) {
                // Every lower ordinal was ready before this one was made.
                assert!(
                    pods(store, "db-")[..index]
                        .iter()
                        .all(|p| super::statefulset::running_and_ready(p) || index == 0)
                );
                order.push(name.clone());
            }
        }
    });
    assert_eq!(order, ["db-0", "db-1", "db-2"]);
    let db = store.get("StatefulSet", "db").unwrap();
    assert_eq!(db["status"]["readyReplicas"], 3);
    assert_eq!(
        db["status"]["currentRevision"],
        db["status"]["updateRevision"]
    );

    // A new image rolls from the highest ordinal down; then scaling down goes in reverse.
    let mut deleted = Vec::new();
    store.apply(&stateful_set(3, "mysql:9"), at(end));
    let end = run(&mut store, &faults, end + 1, |store| {
        for pod in pods(store, "db-") {
            let name = text(pod, "/metadata/name").to_owned();
            if text(pod, "/spec/containers/0/image") == "mysql:9" && !deleted.contains(&name) {
                deleted.push(name);
            }
        }
    });
    assert_eq!(deleted, ["db-2", "db-1", "db-0"]);
    store.apply(&stateful_set(1, "mysql:9"), at(end));
    let (counts, _) = history(
        &mut store,
        &faults,
        end + 1,
        "StatefulSet",
        "db",
        &["/status/replicas"],
    );
    assert_eq!(counts, [json!([3]), json!([2]), json!([1])]);
}

fn job(name: &str, backoff_limit: i64) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]}},
        },
    })
}

#[test]
fn a_job_completes_or_fails_with_the_controllers_conditions() {
    let mut store = Store::new();
    store.apply(&job("init", 0), at(0));
    let (statuses, _) = history(
        &mut store,
        &Faults::default(),
        1,
        "Job",
        "init",
        &[
            "/status/active",
            "/status/succeeded",
            "/status/conditions/0/type",
        ],
    );
    assert_eq!(statuses[1], json!([1, null, null]));
    assert_eq!(statuses.last().unwrap(), &json!([null, 1, "Complete"]));
    assert!(store.get("Job", "init").unwrap()["status"]["completionTime"].is_string());

    let faults = Faults {
        failing_jobs: ["migrate".to_owned()].into(),
        ..Faults::default()
    };
    let mut store = Store::new();
    store.apply(&job("migrate", 1), at(0));
    run(&mut store, &faults, 1, |_| {});
    let status = &store.get("Job", "migrate").unwrap()["status"];
    assert_eq!(status["failed"], 2, "one try and one retry: {status}");
    let failed = &status["conditions"][0];
    assert_eq!(failed["type"], "Failed");
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    let pod = pods(&store, "migrate-")[0];
    assert_eq!(pod["status"]["phase"], "Failed");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Error"
    );
}

fn postgres_cluster(shutdown: bool) -> Value {
    json!({
        "apiVersion": super::pgo::API_VERSION, "kind": "PostgresCluster",
        "metadata": {"name": "pg", "namespace": "shop"},
        "spec": {
            "postgresVersion": 16,
            "shutdown": shutdown,
            "instances": [{"name": "instance1", "replicas": 2}],
            "backups": {"pgbackrest": {"repos": [{"name": "repo1", "volume": {"volumeClaimSpec": {}}}]}},
            "users": [{"name": "app", "databases": ["app"]}],
        },
    })
}

fn instance_pods(store: &Store) -> Vec<&Value> {
    pods(store, "pg-instance1-")
}

#[test]
fn pgo_starts_instances_and_writes_the_user_secret_then_shuts_down_in_order() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(&postgres_cluster(false), at(0));
    let end = run(&mut store, &faults, 1, |_| {});
    let cluster = store.get("PostgresCluster", "pg").unwrap();
    assert_eq!(
        cluster["metadata"]["finalizers"],
        json!([super::pgo::FINALIZER])
    );
    assert_eq!(cluster["status"]["observedGeneration"], 1);
    assert_eq!(
        cluster["status"]["instances"],
        json!([{"name": "instance1", "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}])
    );
    for condition in [
        "PGBackRestRepoHostReady",
        "PGBackRestReplicaRepoReady",
        "PGBackRestReplicaCreate",
    ] {
        assert!(
            super::object::condition_true(cluster, condition),
            "{condition}: {}",
            cluster["status"]
        );
    }
    let secret = store.get("Secret", "pg-pguser-app").unwrap();
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "dbname", "host", "jdbc-uri", "password", "port", "uri", "user", "verifier"
        ]
    );
    let decoded = |key: &str| {
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(secret["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decoded("host"), "pg-primary.shop.svc");
    assert!(
        decoded("uri").starts_with("postgresql://app:"),
        "{}",
        decoded("uri")
    );
    assert!(decoded("verifier").starts_with("SCRAM-SHA-256$4096:"));
    let leaders = instance_pods(&store)
        .into_iter()
        .filter(|pod| {
            pod["metadata"]["labels"]["postgres-operator.crunchydata.com/role"] == "master"
        })
        .count();
    assert_eq!(leaders, 1);

    // Shutdown: the replica stops, then the primary, and only then the repository host.
    store.apply(&postgres_cluster(true), at(end));
    let mut host_stopped_with_instances = false;
    let end = run(&mut store, &faults, end + 1, |store| {
        let host = store.get("StatefulSet", "pg-repo-host").unwrap();
        host_stopped_with_instances |=
            host["spec"]["replicas"] == 0 && !instance_pods(store).is_empty();
    });
    assert!(!host_stopped_with_instances);
    assert!(instance_pods(&store).is_empty() && pods(&store, "pg-repo-host-").is_empty());
    let cluster = store.get("PostgresCluster", "pg").unwrap();
    assert!(cluster["status"]["startupInstance"].is_string());
    assert_eq!(
        cluster["status"]["instances"],
        json!([{"name": "instance1"}])
    );

    // Start again, then delete: the finalizer holds the cluster until its pods are gone.
    store.apply(&postgres_cluster(false), at(end));
    let end = run(&mut store, &faults, end + 1, |_| {});
    assert_eq!(instance_pods(&store).len(), 2);
    assert!(
        store.get("PostgresCluster", "pg").unwrap()["status"]
            .get("startupInstance")
            .is_none()
    );
    store.delete("PostgresCluster", "pg", at(end));
    assert!(store.get("PostgresCluster", "pg").is_some());
    run(&mut store, &faults, end + 1, |_| {});
    assert!(store.get("PostgresCluster", "pg").is_none());
    assert!(store.objects().is_empty(), "{:?}", store.objects());
}

fn xtradb_cluster(size: i64, image: &str, pause: bool) -> Value {
    json!({
        "apiVersion": super::pxc::API_VERSION, "kind": "PerconaXtraDBCluster",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "crVersion": "1.18.0",
            "pause": pause,
            "updateStrategy": "SmartUpdate",
            "pxc": {"size": size, "image": image, "volumeSpec": {"persistentVolumeClaim": {}}},
            "haproxy": {"enabled": true, "size": 2, "image": "percona/haproxy:2.8.15"},
        },
    })
}

const STATE: &[&str] = &["/status/state", "/status/observedGeneration"];

#[test]
fn pxc_initializes_then_pauses_and_resumes_through_its_states() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(
        &xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.42", false),
        at(0),
    );
    let mut ready_counts = Vec::new();
    let (states, end) = history(&mut store, &faults, 1, "PerconaXtraDBCluster", "db", STATE);
    assert_eq!(
        states,
        [
            json!([null, null]),
            json!(["initializing", 1]),
            json!(["ready", 1])
        ]
    );
    let status = &store.get("PerconaXtraDBCluster", "db").unwrap()["status"];
    assert_eq!(
        (
            status["pxc"]["ready"].clone(),
            status["haproxy"]["ready"].clone()
        ),
        (json!(3), json!(2))
    );
    assert_eq!(status["host"], "db-haproxy.shop");
    assert_eq!(status["size"], 5);

    store.apply(
        &xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.42", true),
        at(end),
    );
    let (states, end) = history(
        &mut store,
        &faults,
        end + 1,
        "PerconaXtraDBCluster",
        "db",
        STATE,
    );
    assert_eq!(
        states,
        [
            json!(["ready", 1]),
            json!(["stopping", 2]),
            json!(["paused", 2])
        ]
    );
    assert!(pods(&store, "db-").is_empty());

    store.apply(
        &xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.42", false),
        at(end),
    );
    run(&mut store, &faults, end + 1, |store| {
        let ready = store.get("PerconaXtraDBCluster", "db").unwrap()["status"]["pxc"]["ready"]
            .as_i64()
            .unwrap_or(0);
        if ready_counts.last() != Some(&ready) {
            ready_counts.push(ready);
        }
    });
    assert_eq!(ready_counts, [0, 1, 2, 3]);
    let cluster = store.get("PerconaXtraDBCluster", "db").unwrap();
    assert_eq!(cluster["status"]["state"], "ready");
    let history: Vec<&Value> = cluster["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["type"])
        .collect();
    assert_eq!(
        history,
        [
            "initializing",
            "ready",
            "stopping",
            "paused",
            "initializing",
            "ready"
        ]
    );
}

/// The stale-ready rule: after a change, the operator's status says `ready` for the previous
/// generation, then `initializing` for the new one, and `ready` again only once every pod runs
/// the new template. A wait that reads `ready` must look at the generation.
#[test]
fn pxc_reports_a_redeploy_as_initializing_until_every_node_runs_the_new_image() {
    let faults = Faults::default();
    let mut store = Store::new();
    store.apply(
        &xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.41", false),
        at(0),
    );
    let end = run(&mut store, &faults, 1, |_| {});
    store.apply(
        &xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.42", false),
        at(end),
    );
    let mut early = false;
    let (states, _) = history(
        &mut store,
        &faults,
        end + 1,
        "PerconaXtraDBCluster",
        "db",
        STATE,
    );
    run(&mut store, &faults, end + 300, |store| {
        let cluster = store.get("PerconaXtraDBCluster", "db").unwrap();
        let updated = pods(store, "db-pxc-")
            .iter()
            .all(|pod| text(pod, "/spec/containers/0/image").ends_with("8.0.42"));
        early |= cluster["status"]["state"] == "ready"
            && cluster["status"]["observedGeneration"] == 2
            && !updated;
    });
    assert!(!early);
    assert_eq!(
        states,
        [
            json!(["ready", 1]),
            json!(["initializing", 2]),
            json!(["ready", 2])
        ]
    );
    assert!(
        pods(&store, "db-pxc-")
            .iter()
            .all(|pod| text(pod, "/spec/containers/0/image").ends_with("8.0.42"))
    );
}

#[test]
fn pxc_refuses_an_unsafe_size_in_its_own_words() {
    let mut store = Store::new();
    store.apply(
        &xtradb_cluster(4, "percona/percona-xtradb-cluster:8.0.42", false),
        at(0),
    );
    run(&mut store, &Faults::default(), 1, |_| {});
    let status = &store.get("PerconaXtraDBCluster", "db").unwrap()["status"];
    let why = "check safe defaults: PXC size must be an odd number. Set spec.unsafeFlags.pxcSize to true to disable this check";
    assert_eq!(status["state"], "error");
    assert_eq!(status["message"], json!([format!("Error: {why}")]));
    assert_eq!(status["conditions"][0]["reason"], "ErrorReconcile");
    assert_eq!(status["conditions"][0]["message"], why);
    assert!(
        status.get("observedGeneration").is_none(),
        "upstream leaves it as it was"
    );
    assert!(pods(&store, "db-").is_empty());
}

#[test]
fn a_settled_namespace_gives_no_more_changes() {
    let faults = Faults::default();
    let mut store = Store::new();
    for manifest in [
        deployment(2, "nginx:1", "RollingUpdate"),
        stateful_set(2, "mysql:8"),
        job("init", 0),
        postgres_cluster(false),
        xtradb_cluster(3, "percona/percona-xtradb-cluster:8.0.42", false),
    ] {
        store.apply(&manifest, at(0));
    }
    store.settle(&faults, at(1), 100);
    assert!(
        store.pass(&faults, at(500)).is_empty(),
        "time alone changes nothing once settled"
    );
}
