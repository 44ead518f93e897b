//! Every rule of a wait, on objects as a cluster stores them.

use serde_json::{Value, json};

use super::*;

fn spec(condition: &str) -> WaitSpec {
    WaitSpec::new(Condition::parse(condition).unwrap())
}

fn failing(condition: &str, fail_when: &str) -> WaitSpec {
    spec(condition).failing_when(WaitSpec::parse_fail_when(fail_when).unwrap())
}

fn judge(condition: &str, object: &Value) -> Verdict {
    spec(condition).judge(Some(object), &[])
}

fn pending(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Pending(why) => why,
        other => panic!("expected Pending, got {other:?}"),
    }
}

fn failed(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Failed(why) => why,
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// A Deployment at `generation` of `replicas`, with a status the controller wrote.
fn deployment(generation: i64, replicas: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": generation, "uid": "d-1"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": status,
    })
}

fn rolled_out(observed: i64, replicas: i64) -> Value {
    json!({"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
           "readyReplicas": replicas, "availableReplicas": replicas})
}

#[test]
fn only_gone_holds_for_an_absent_object() {
    for text in [
        "available",
        "ready",
        "scaled-down",
        "complete",
        "exists",
        "condition:Ready",
        "field:a=b",
    ] {
        assert_eq!(
            spec(text).judge(None, &[]),
            Verdict::Pending("it does not exist yet".into()),
            "{text}"
        );
    }
    assert_eq!(spec("gone").judge(None, &[]), Verdict::Holds);
    assert_eq!(judge("exists", &json!({})), Verdict::Holds);
    assert_eq!(pending(&judge("gone", &json!({}))), "it still exists");
    let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z",
                                       "finalizers": ["pgo/finalizer"]}});
    assert_eq!(
        pending(&judge("gone", &deleting)),
        "it is being deleted, after finalizers pgo/finalizer"
    );
}

#[test]
fn available_is_a_finished_rollout_of_the_current_generation() {
    assert_eq!(
        judge("available", &deployment(2, 3, rolled_out(2, 3))),
        Verdict::Holds
    );
    // The controller has not seen the new spec: its status is the previous rollout's.
    assert_eq!(
        pending(&judge("available", &deployment(3, 3, rolled_out(2, 3)))),
        "waiting for the controller to observe generation 3"
    );
    let mut unobserved = deployment(1, 1, rolled_out(1, 1));
    unobserved["status"]["observedGeneration"] = Value::Null;
    assert!(matches!(
        judge("available", &unobserved),
        Verdict::Pending(_)
    ));
    // A changed image: new replicas come one by one while old ones remain.
    let rolling = json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 2,
                         "availableReplicas": 3});
    assert_eq!(
        pending(&judge("available", &deployment(3, 3, rolling))),
        "2 of 3 new replicas updated"
    );
    let old_left = json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 3,
                          "availableReplicas": 4});
    assert_eq!(
        pending(&judge("available", &deployment(3, 3, old_left))),
        "1 old replicas pending termination"
    );
    let not_available = json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3,
                               "availableReplicas": 2});
    assert_eq!(
        pending(&judge("available", &deployment(3, 3, not_available))),
        "2 of 3 updated replicas available"
    );
    // Scaled to zero: available once the old replicas are gone.
    assert_eq!(
        judge(
            "available",
            &deployment(2, 0, json!({"observedGeneration": 2}))
        ),
        Verdict::Holds
    );
    // An object without a generation (written by hand to a folder) has nothing to observe.
    let by_hand = json!({"spec": {"replicas": 1},
                         "status": {"updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}});
    assert_eq!(judge("available", &by_hand), Verdict::Holds);
    // Counts of another type never hold.
    let mut wrong = deployment(1, 1, rolled_out(1, 1));
    wrong["status"]["availableReplicas"] = json!("1");
    assert_eq!(
        pending(&judge("available", &wrong)),
        "status.availableReplicas is not a number"
    );
}

#[test]
fn a_deployment_past_its_progress_deadline_fails() {
    let mut status = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                            "availableReplicas": 1});
    status["conditions"] = json!([
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "ReplicaSet \"web-7c9d\" has timed out progressing."}
    ]);
    assert_eq!(
        failed(&judge("available", &deployment(2, 1, status.clone()))),
        "exceeded its progress deadline: ReplicaSet \"web-7c9d\" has timed out progressing."
    );
    // Reported for an older generation, it is about the previous rollout.
    assert!(matches!(
        judge("available", &deployment(3, 1, status)),
        Verdict::Pending(_)
    ));
}

fn stateful_set(generation: i64, spec: Value, status: Value) -> Value {
    let mut object = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop", "generation": generation},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "db"}}},
        "status": status,
    });
    for (key, value) in spec.as_object().unwrap() {
        object["spec"][key] = value.clone();
    }
    object
}

#[test]
fn ready_is_a_finished_stateful_set_rollout() {
    let done = json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
                      "updatedReplicas": 3, "currentRevision": "db-2", "updateRevision": "db-2"});
    assert_eq!(
        judge("ready", &stateful_set(2, json!({}), done.clone())),
        Verdict::Holds
    );
    assert_eq!(
        pending(&judge("ready", &stateful_set(3, json!({}), done.clone()))),
        "waiting for the controller to observe generation 3"
    );
    let mut not_ready = done.clone();
    not_ready["readyReplicas"] = json!(2);
    assert_eq!(
        pending(&judge("ready", &stateful_set(2, json!({}), not_ready))),
        "2 of 3 replicas ready"
    );
    // Ready, but the rolling update has not reached every pod yet.
    let mut rolling = done.clone();
    rolling["updatedReplicas"] = json!(1);
    rolling["updateRevision"] = json!("db-3");
    assert_eq!(
        pending(&judge(
            "ready",
            &stateful_set(2, json!({}), rolling.clone())
        )),
        "1 of 3 replicas at the new revision db-3"
    );
    // A partition: only the pods from it on are updated, which is the end of the rollout.
    let partitioned = json!({"updateStrategy": {"type": "RollingUpdate",
                                                "rollingUpdate": {"partition": 2}}});
    assert_eq!(
        judge(
            "ready",
            &stateful_set(2, partitioned.clone(), rolling.clone())
        ),
        Verdict::Holds
    );
    rolling["updatedReplicas"] = json!(0);
    assert_eq!(
        pending(&judge(
            "ready",
            &stateful_set(2, partitioned, rolling.clone())
        )),
        "0 of 1 new replicas updated (partition 2)"
    );
    // OnDelete updates pods only when someone deletes them: readiness is the rollout.
    let on_delete = json!({"updateStrategy": {"type": "OnDelete"}});
    assert_eq!(
        judge("ready", &stateful_set(2, on_delete, rolling)),
        Verdict::Holds
    );
    // Zero replicas are ready at once; readyReplicas is not availableReplicas.
    assert_eq!(
        judge("ready", &json!({"spec": {"replicas": 0}})),
        Verdict::Holds
    );
    assert!(matches!(
        judge(
            "ready",
            &json!({"spec": {"replicas": 2}, "status": {"availableReplicas": 2}})
        ),
        Verdict::Pending(_)
    ));
}

#[test]
fn scaled_down_needs_no_replicas_of_the_current_generation() {
    assert_eq!(
        judge("scaled-down", &json!({"spec": {"replicas": 0}})),
        Verdict::Holds
    );
    assert_eq!(
        pending(&judge(
            "scaled-down",
            &json!({"status": {"replicas": 0, "readyReplicas": 1}})
        )),
        "1 replicas still running"
    );
    assert!(matches!(
        judge("scaled-down", &json!({"status": {"replicas": "0"}})),
        Verdict::Pending(_)
    ));
    let stale = json!({"metadata": {"generation": 2},
                       "status": {"replicas": 0, "observedGeneration": 1}});
    assert!(matches!(judge("scaled-down", &stale), Verdict::Pending(_)));
}

#[test]
fn complete_is_the_jobs_complete_condition_and_failed_fails() {
    let job = |conditions: Value| {
        json!({"kind": "Job", "metadata": {"name": "init", "namespace": "shop"},
               "status": {"active": 1, "conditions": conditions}})
    };
    assert_eq!(
        judge(
            "complete",
            &job(json!([{"type": "Complete", "status": "True"}]))
        ),
        Verdict::Holds
    );
    assert_eq!(
        failed(&judge(
            "complete",
            &job(
                json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                         "message": "Job has reached the specified backoff limit"}])
            )
        )),
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    );
    assert_eq!(
        failed(&judge(
            "complete",
            &job(
                json!([{"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded"}])
            )
        )),
        "DeadlineExceeded"
    );
    assert_eq!(
        pending(&judge(
            "complete",
            &job(json!([{"type": "Failed", "status": "False"}]))
        )),
        "not complete: 1 active, 0 succeeded, 0 failed pods"
    );
}

#[test]
fn condition_counts_for_the_current_generation_only() {
    let object = |generation: i64, observed: Option<i64>, condition: Value| {
        let mut object = json!({"metadata": {"generation": generation},
                                "status": {"conditions": [condition]}});
        if let Some(observed) = observed {
            object["status"]["observedGeneration"] = json!(observed);
        }
        object
    };
    let ready = json!({"type": "Ready", "status": "True"});
    assert_eq!(
        judge("condition:Ready", &object(2, None, ready.clone())),
        Verdict::Holds
    );
    assert_eq!(
        judge("condition:Ready", &object(2, Some(2), ready.clone())),
        Verdict::Holds
    );
    assert_eq!(
        pending(&judge("condition:Ready", &object(2, Some(1), ready))),
        "waiting for the controller to observe generation 2"
    );
    // metav1.Condition carries its own observedGeneration.
    let stale = json!({"type": "Ready", "status": "True", "observedGeneration": 1});
    assert_eq!(
        pending(&judge("condition:Ready", &object(2, None, stale))),
        "condition Ready describes generation 1, the object is at 2"
    );
    let current = json!({"type": "Ready", "status": "True", "observedGeneration": 2});
    assert_eq!(
        judge("condition:Ready", &object(2, None, current)),
        Verdict::Holds
    );
    let not_yet = json!({"type": "Ready", "status": "False", "reason": "Provisioning",
                         "message": "waiting for\n  volumes"});
    assert_eq!(
        pending(&judge("condition:Ready", &object(2, None, not_yet))),
        "condition Ready is False: Provisioning: waiting for volumes"
    );
    for wrong in [
        json!({"type": "Ready", "status": true}),
        json!({"type": "ready", "status": "True"}),
    ] {
        assert!(matches!(
            judge("condition:Ready", &object(1, None, wrong)),
            Verdict::Pending(_)
        ));
    }
    assert_eq!(
        pending(&judge("condition:Ready", &json!({}))),
        "no condition Ready yet"
    );
}

#[test]
fn field_renders_values_and_waits_for_a_current_status() {
    let object = json!({"metadata": {"generation": 3},
                        "spec": {"shutdown": true, "replicas": 0},
                        "status": {"observedGeneration": 3, "state": "ready", "ratio": 1.5,
                                   "postgres": {"ready": 3}, "list": ["ready"], "nothing": null}});
    for holds in [
        "field:status.state=ready",
        "field:spec.shutdown=true",
        "field:spec.replicas=0",
        "field:status.postgres.ready=3",
        "field:status.ratio=1.5",
    ] {
        assert_eq!(judge(holds, &object), Verdict::Holds, "{holds}");
    }
    assert_eq!(
        pending(&judge("field:status.state=Ready", &object)),
        "status.state is \"ready\""
    );
    assert_eq!(
        pending(&judge("field:spec.shutdown=false", &object)),
        "spec.shutdown is not \"false\" yet"
    );
    assert_eq!(
        pending(&judge("field:status.missing=x", &object)),
        "status.missing is not set yet"
    );
    assert_eq!(
        pending(&judge("field:status.nothing=null", &object)),
        "status.nothing is not set yet"
    );
    assert!(matches!(
        judge("field:status.list=ready", &object),
        Verdict::Pending(_)
    ));
    assert!(matches!(
        judge("field:status.postgres=3", &object),
        Verdict::Pending(_)
    ));

    // A redeploy: the operator still reports the previous generation's `ready`.
    let mut stale = object.clone();
    stale["metadata"]["generation"] = json!(4);
    assert_eq!(
        pending(&judge("field:status.state=ready", &stale)),
        "waiting for the controller to observe generation 4"
    );
    // Fields outside status are what was written: always current.
    assert_eq!(judge("field:spec.shutdown=true", &stale), Verdict::Holds);
    // An operator that does not report observedGeneration cannot be checked so.
    let mut silent = stale.clone();
    silent["status"]
        .as_object_mut()
        .unwrap()
        .remove("observedGeneration");
    assert_eq!(judge("field:status.state=ready", &silent), Verdict::Holds);
}

#[test]
fn fail_when_fails_with_the_objects_own_explanation() {
    let wait = failing(
        "field:status.state=ready",
        "field:status.state=error\n\ncondition:Failed\n",
    );
    assert_eq!(
        wait.to_string(),
        "field:status.state=ready (failing when field:status.state=error or condition:Failed)"
    );
    let cluster = |status: Value| json!({"metadata": {"generation": 2}, "status": status});

    // PXC writes a list of messages.
    let pxc = cluster(json!({"observedGeneration": 2, "state": "error",
                             "messages": ["pxc: back-off 5m0s restarting", "haproxy: not ready"]}));
    assert_eq!(
        failed(&wait.judge(Some(&pxc), &[])),
        "field:status.state=error: pxc: back-off 5m0s restarting; haproxy: not ready"
    );
    let single =
        cluster(json!({"observedGeneration": 2, "state": "error", "message": "bad storage class"}));
    assert_eq!(
        failed(&wait.judge(Some(&single), &[])),
        "field:status.state=error: bad storage class"
    );
    let conditions = cluster(
        json!({"observedGeneration": 2, "state": "error", "conditions": [
        {"type": "Ready", "status": "False", "reason": "Unhealthy", "message": "0 of 3 up"}]}),
    );
    assert_eq!(
        failed(&wait.judge(Some(&conditions), &[])),
        "field:status.state=error: Ready: Unhealthy: 0 of 3 up"
    );
    let bare = cluster(json!({"observedGeneration": 2, "state": "error"}));
    assert_eq!(
        failed(&wait.judge(Some(&bare), &[])),
        "field:status.state=error"
    );
    // A matching condition explains itself.
    let condition = cluster(
        json!({"observedGeneration": 2, "state": "initializing", "message": "other", "conditions": [
        {"type": "Failed", "status": "True", "reason": "Quota", "message": "exceeded quota"}]}),
    );
    assert_eq!(
        failed(&wait.judge(Some(&condition), &[])),
        "condition:Failed: Quota: exceeded quota"
    );

    // The Percona XtraDB Cluster operator's own form: `status.message` is a list.
    let listed = cluster(json!({"observedGeneration": 2, "state": "error",
                                "message": ["pxc: size must be odd"]}));
    assert_eq!(
        failed(&wait.judge(Some(&listed), &[])),
        "field:status.state=error: pxc: size must be odd"
    );

    // The previous spec's `error`, reported for generation 1, does not fail generation 2.
    let stale = cluster(json!({"observedGeneration": 1, "state": "error", "message": "old"}));
    assert_eq!(
        pending(&wait.judge(Some(&stale), &[])),
        "waiting for the controller to observe generation 2"
    );
    let stale_condition = cluster(json!({"conditions": [
        {"type": "Failed", "status": "True", "observedGeneration": 1}]}));
    assert!(matches!(
        wait.judge(Some(&stale_condition), &[]),
        Verdict::Pending(_)
    ));

    // A status that does not say which generation it describes does not fail at once: it may
    // be the replaced spec's (see `a_lingering_failure_counts_after_its_grace`).
    let unsaid = cluster(json!({"state": "error", "message": "old"}));
    assert_eq!(
        pending(&wait.judge(Some(&unsaid), &[])),
        "status.state is \"error\""
    );

    // gone as a failure: the object was deleted under the wait.
    let job = failing("complete", "gone");
    assert_eq!(failed(&job.judge(None, &[])), "it no longer exists");
}

#[test]
fn fail_when_refuses_malformed_conditions_naming_them() {
    let error = WaitSpec::parse_fail_when("field:status.state=error\nbogus").unwrap_err();
    assert!(
        error.starts_with("condition 2: unknown condition \"bogus\""),
        "{error}"
    );
    assert!(
        WaitSpec::parse_fail_when(" \n")
            .unwrap_err()
            .contains("e.g.")
    );
    // Lines folded into one by YAML read the same as lines.
    assert_eq!(
        WaitSpec::parse_fail_when("  field:status.state=error condition:Failed  ").unwrap(),
        [
            Condition::Field {
                path: "status.state".into(),
                value: "error".into()
            },
            Condition::ConditionTrue("Failed".into())
        ]
    );
    // A value with a space is refused rather than taken apart silently.
    assert!(WaitSpec::parse_fail_when("field:status.message=no way").is_err());
}

/// A pod of the Deployment's template `hash`, whose container waits for `reason`.
fn pod(name: &str, hash: &str, reason: Option<(&str, &str)>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": hash}},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "web", "ready": false, "state": {"running": {}}}]},
    });
    if let Some((reason, message)) = reason {
        pod["status"]["containerStatuses"][0]["state"] =
            json!({"waiting": {"reason": reason, "message": message}});
    }
    pod
}

fn rolling_out() -> Value {
    deployment(
        2,
        1,
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
               "availableReplicas": 1}),
    )
}

#[test]
fn a_stuck_pod_of_the_current_template_fails_the_wait() {
    let wait = spec("available");
    for (reason, message) in [
        ("ImagePullBackOff", "Back-off pulling image \"odoo:bad\""),
        (
            "CrashLoopBackOff",
            "back-off 40s restarting failed container=web",
        ),
        ("CreateContainerConfigError", "secret \"db\" not found"),
        (
            "InvalidImageName",
            "Failed to apply default image tag \"odoo:\"",
        ),
    ] {
        let pods = [pod("web-7c9d", "7c9d", Some((reason, message)))];
        assert_eq!(
            failed(&wait.judge(Some(&rolling_out()), &pods)),
            format!("pod web-7c9d/web: {reason}: {message}")
        );
    }
    // ErrImagePull alone may pass at the next pull: told, not failed.
    let pulling = [pod(
        "web-7c9d",
        "7c9d",
        Some(("ErrImagePull", "rpc error: not found")),
    )];
    assert_eq!(
        pending(&wait.judge(Some(&rolling_out()), &pulling)),
        "1 old replicas pending termination; pod web-7c9d/web: ErrImagePull: rpc error: not found"
    );
    // Starting containers are not worth telling.
    let starting = [pod("web-7c9d", "7c9d", Some(("ContainerCreating", "")))];
    assert_eq!(
        pending(&wait.judge(Some(&rolling_out()), &starting)),
        "1 old replicas pending termination"
    );
    // Init containers count, and a pod being deleted does not.
    let mut init = pod("web-7c9d", "7c9d", None);
    init["status"]["initContainerStatuses"] =
        json!([{"name": "migrate", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]);
    assert_eq!(
        failed(&wait.judge(Some(&rolling_out()), &[init.clone()])),
        "pod web-7c9d/migrate: CrashLoopBackOff"
    );
    init["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert!(matches!(
        wait.judge(Some(&rolling_out()), &[init]),
        Verdict::Pending(_)
    ));
    // A pod the scheduler cannot place is told.
    let mut unschedulable = pod("web-7c9d", "7c9d", None);
    unschedulable["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": "0/3 nodes are available"}]);
    assert_eq!(
        pending(&wait.judge(Some(&rolling_out()), &[unschedulable])),
        "1 old replicas pending termination; pod web-7c9d: Unschedulable: 0/3 nodes are available"
    );
    // Once the condition holds, pods do not matter.
    let stuck = [pod("web-7c9d", "7c9d", Some(("CrashLoopBackOff", "")))];
    assert_eq!(
        wait.judge(Some(&deployment(2, 1, rolled_out(2, 1))), &stuck),
        Verdict::Holds
    );
}

#[test]
fn the_pods_of_a_workload_are_its_current_templates() {
    let wait = spec("available");
    let query = wait.pod_query("Deployment", &rolling_out()).unwrap();
    assert_eq!(query.namespace, "shop");
    assert_eq!(query.selector.to_query(), "app=web");
    assert!(query.needs_replica_sets());
    let replica_set = |hash: &str, revision: &str, owner: &str| {
        json!({"metadata": {"name": format!("web-{hash}"),
                            "labels": {"app": "web", "pod-template-hash": hash},
                            "annotations": {"deployment.kubernetes.io/revision": revision},
                            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner}]}})
    };
    let pods = vec![
        pod("web-old", "1111", Some(("CrashLoopBackOff", ""))),
        pod("web-new", "2222", None),
    ];
    // The newest ReplicaSet the Deployment owns is its current template; a crash-looping pod of
    // the previous one, which the new rollout is replacing, does not count.
    let replica_sets = [
        replica_set("1111", "9", "d-1"),
        replica_set("2222", "10", "d-1"),
        replica_set("3333", "11", "someone-else"),
    ];
    let current = query.current(pods.clone(), &replica_sets);
    assert_eq!(current, [pods[1].clone()]);
    assert!(matches!(
        wait.judge(Some(&rolling_out()), &current),
        Verdict::Pending(_)
    ));
    // Without ReplicaSets every matching pod counts, sorted by name.
    let all = query.current(pods.clone(), &[]);
    assert_eq!(all, [pods[1].clone(), pods[0].clone()]);

    // Before the controller observes the new spec, the pods are the previous template's.
    assert_eq!(
        wait.pod_query("Deployment", &deployment(3, 1, rolled_out(2, 1))),
        None
    );
    // Conditions that are not about a workload's pods read none.
    assert_eq!(spec("exists").pod_query("Deployment", &rolling_out()), None);
    assert_eq!(
        spec("field:status.a=b").pod_query("Deployment", &rolling_out()),
        None
    );
    // Nor does a workload without a usable selector: an empty one would match every pod.
    let mut unselective = rolling_out();
    unselective["spec"]["selector"] = json!({});
    assert_eq!(wait.pod_query("Deployment", &unselective), None);

    // A StatefulSet names its current revision.
    let set = stateful_set(
        2,
        json!({}),
        json!({"observedGeneration": 2, "updateRevision": "db-5", "readyReplicas": 1}),
    );
    let query = spec("ready").pod_query("StatefulSet", &set).unwrap();
    assert!(!query.needs_replica_sets());
    let revision_pod = |name: &str, revision: &str| json!({"metadata": {"name": name, "labels": {"app": "db", "controller-revision-hash": revision}}});
    let pods = vec![revision_pod("db-0", "db-5"), revision_pod("db-1", "db-4")];
    assert_eq!(query.current(pods.clone(), &[]), [pods[0].clone()]);

    // A Job's pods are all current, whatever its generation says.
    let job = json!({"kind": "Job", "metadata": {"name": "init", "namespace": "shop", "generation": 1},
                     "spec": {"selector": {"matchLabels": {"job-name": "init"}}}});
    let query = spec("complete").pod_query("Job", &job).unwrap();
    assert_eq!(query.selector.to_query(), "job-name=init");
    let stuck = json!({"metadata": {"name": "init-x"}, "status": {"containerStatuses": [
        {"name": "init", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no"}}}]}});
    assert_eq!(
        failed(&spec("complete").judge(Some(&job), &[stuck])),
        "pod init-x/init: ImagePullBackOff: no"
    );
}

#[test]
fn quotes_from_the_cluster_are_one_line_and_bounded() {
    let long = "word ".repeat(200);
    let quoted = rules::quote(&long);
    assert!(
        quoted.ends_with("...") && quoted.chars().count() <= 303,
        "{quoted}"
    );
    assert_eq!(rules::quote("a\n  b\tc"), "a b c");
}

/// Operators that write `observedGeneration` only after a reconcile that succeeded (PXC) leave
/// a refused spec's error next to the previous generation: it fails the wait once it has
/// lasted the grace without a break, and a break starts the clock again. On paused time: the
/// clock moves only by the test's own sleeps, however loaded the machine.
#[tokio::test(start_paused = true)]
async fn a_lingering_failure_counts_after_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = crate::cluster::directory::DirectoryCluster::new(dir.path());
    let target = ObjectRef {
        api_version: "pxc.percona.com/v1".into(),
        kind: "PerconaXtraDBCluster".into(),
        namespace: Some("shop".into()),
        name: "db".into(),
    };
    let grace = std::time::Duration::from_millis(300);
    let wait =
        failing("field:status.state=ready", "field:status.state=error").with_lingering_grace(grace);
    let lines = std::sync::Mutex::new(Vec::new());
    let progress = |line: String| lines.lock().unwrap().push(line);
    let mut waiter = Waiter::new(&target, &wait, &progress, grace / 4);
    let at = |observed: i64, state: &str| {
        json!({"metadata": {"generation": 2}, "status": {"observedGeneration": observed,
               "state": state, "message": ["pxc: size must be odd"]}})
    };

    let refused = at(1, "error");
    assert!(waiter.observe(&cluster, Some(&refused)).await.is_none());
    assert!(waiter.looks_again(), "the grace runs without a new version");
    // A break (the operator works on it) starts the clock again.
    tokio::time::sleep(grace * 2).await;
    assert!(
        waiter
            .observe(&cluster, Some(&at(1, "initializing")))
            .await
            .is_none()
    );
    assert!(!waiter.looks_again());
    assert!(waiter.observe(&cluster, Some(&refused)).await.is_none());
    tokio::time::sleep(grace / 2).await;
    assert!(waiter.observe(&cluster, Some(&refused)).await.is_none());
    tokio::time::sleep(grace).await;
    let ended = waiter.observe(&cluster, Some(&refused)).await;
    let Some(Err(ClusterError::WaitFailed { reason, .. })) = ended else {
        panic!("expected a failed wait, got {ended:?}");
    };
    assert_eq!(
        reason,
        "field:status.state=error: pxc: size must be odd (for 0s, although the status does \
         not say it describes the current generation)"
    );
}
