//! Waits of the kubernetes driver against a real API server, playing the controllers by writing
//! `/status` as they would (the test API server runs no Deployment, Job or kubelet): a rollout
//! is awaited to its end, stale statuses never end a wait, and lost outcomes end it at once
//! with the cluster's reason. Each test has a namespace of its own, and is synchronized on what
//! the wait tells, never on time.

use std::{sync::Arc, time::Duration};

use eyrie_book_runner_svc::cluster::{
    Cluster, ClusterError, Condition, ObjectRef, WaitSpec,
    kubernetes::{Connection, KubernetesCluster},
};
use kube::{
    Api,
    api::{DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::kube_api::{client, kubeconfig, namespaced};

/// Longest a wait may take to see what the test wrote, on a loaded machine.
const EVENTUALLY: Duration = Duration::from_secs(60);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The driver as the admin of the test API server, with a namespace of its own.
async fn setup(path: &str, prefix: &str) -> (Arc<KubernetesCluster>, String) {
    let cluster = KubernetesCluster::new(Connection::Kubeconfig {
        path: path.into(),
        context: String::new(),
    });
    let namespace = unique(prefix);
    let manifest =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    cluster.apply(&manifest, false).await.unwrap();
    (Arc::new(cluster), namespace)
}

fn reference(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: Some(namespace.into()),
        name: name.into(),
    }
}

/// A wait running in the background, and the lines it tells.
struct Waiting {
    task: JoinHandle<Result<(), ClusterError>>,
    lines: mpsc::UnboundedReceiver<String>,
    said: Vec<String>,
}

impl Waiting {
    fn start(cluster: &Arc<KubernetesCluster>, target: ObjectRef, wait: WaitSpec) -> Self {
        let (sender, lines) = mpsc::unbounded_channel();
        let cluster = Arc::clone(cluster);
        let task = tokio::spawn(async move {
            let progress = move |line: String| {
                let _ = sender.send(line);
            };
            cluster.wait(&target, &wait, &progress).await
        });
        Self {
            task,
            lines,
            said: Vec::new(),
        }
    }

    /// Returns once the wait told a line containing `part`; the wait must still be running.
    async fn told(&mut self, part: &str) {
        let found = tokio::time::timeout(EVENTUALLY, async {
            while let Some(line) = self.lines.recv().await {
                self.said.push(line.clone());
                if line.contains(part) {
                    return true;
                }
            }
            false
        })
        .await;
        if found == Ok(false) {
            // The wait ended: say how.
            let ended = (&mut self.task).await.unwrap();
            panic!(
                "the wait ended with {ended:?} before telling {part:?}; it told {:?}",
                self.said
            );
        }
        assert_eq!(
            found,
            Ok(true),
            "the wait never told {part:?}; it told {:?}",
            self.said
        );
        assert!(!self.task.is_finished(), "the wait ended: {:?}", self.said);
    }

    async fn ended(self) -> Result<(), ClusterError> {
        tokio::time::timeout(EVENTUALLY, self.task)
            .await
            .expect("the wait did not end")
            .unwrap()
    }
}

/// Writes `status` through the `/status` subresource, as a controller does.
async fn write_status(api: &Api<DynamicObject>, name: &str, status: Value) {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap();
}

fn deployment(namespace: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {"metadata": {"labels": {"app": "shop"}},
                         "spec": {"containers": [{"name": "odoo", "image": image}]}},
        },
    })
}

fn available() -> WaitSpec {
    WaitSpec::new(Condition::Available)
}

#[tokio::test]
async fn a_changed_image_is_available_once_its_rollout_is_written() {
    let Some(path) = kubeconfig() else { return };
    let (cluster, namespace) = setup(&path, "w-rollout").await;
    let deployments = namespaced(
        &client(&path).await,
        &namespace,
        "apps/v1",
        "Deployment",
        "deployments",
    );
    let target = reference("apps/v1", "Deployment", &namespace, "shop");
    cluster
        .apply(&deployment(&namespace, "odoo:17"), false)
        .await
        .unwrap();
    let done = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                      "readyReplicas": 1, "availableReplicas": 1});
    write_status(&deployments, "shop", done).await;
    Waiting::start(&cluster, target.clone(), available())
        .ended()
        .await
        .unwrap();

    // A new image: generation 2, while the status still describes generation 1's rollout.
    cluster
        .apply(&deployment(&namespace, "odoo:18"), false)
        .await
        .unwrap();
    let mut waiting = Waiting::start(&cluster, target.clone(), available());
    waiting
        .told("waiting for the controller to observe generation 2")
        .await;
    // The controller saw it: one new replica, the old one still there.
    let rolling = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                         "readyReplicas": 2, "availableReplicas": 1});
    write_status(&deployments, "shop", rolling).await;
    waiting.told("1 old replicas pending termination").await;
    let new_only = json!({"replicas": 1, "readyReplicas": 0, "availableReplicas": 0});
    write_status(&deployments, "shop", new_only).await;
    waiting.told("0 of 1 updated replicas available").await;
    let rolled_out = json!({"readyReplicas": 1, "availableReplicas": 1});
    write_status(&deployments, "shop", rolled_out).await;
    waiting.ended().await.unwrap();
}

#[tokio::test]
async fn a_stuck_pod_of_the_new_rollout_fails_the_wait_with_the_kubelets_reason() {
    let Some(path) = kubeconfig() else { return };
    let (cluster, namespace) = setup(&path, "w-stuck").await;
    let admin = client(&path).await;
    let deployments = namespaced(&admin, &namespace, "apps/v1", "Deployment", "deployments");
    let replica_sets = namespaced(&admin, &namespace, "apps/v1", "ReplicaSet", "replicasets");
    let pods = namespaced(&admin, &namespace, "v1", "Pod", "pods");
    let target = reference("apps/v1", "Deployment", &namespace, "shop");
    cluster
        .apply(&deployment(&namespace, "odoo:bad"), false)
        .await
        .unwrap();
    let uid = cluster.get(&target).await.unwrap().unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    write_status(
        &deployments,
        "shop",
        json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1,
               "readyReplicas": 1, "availableReplicas": 1}),
    )
    .await;

    // What the Deployment controller made: the previous ReplicaSet and the new one.
    for (hash, revision) in [("old5f7b", "1"), ("new7c9d", "2")] {
        let replica_set = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("shop-{hash}"),
                         "labels": {"app": "shop", "pod-template-hash": hash},
                         "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "shop", "uid": uid, "controller": true}]},
            "spec": {"replicas": 1,
                     "selector": {"matchLabels": {"app": "shop", "pod-template-hash": hash}},
                     "template": {"metadata": {"labels": {"app": "shop", "pod-template-hash": hash}},
                                  "spec": {"containers": [{"name": "odoo", "image": "odoo"}]}}},
        });
        replica_sets
            .create(
                &PostParams::default(),
                &serde_json::from_value(replica_set).unwrap(),
            )
            .await
            .unwrap();
    }
    // And what the kubelet reports of their pods.
    let pod = |name: &str, hash: &str, reason: &str, message: &str| {
        let manifest = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "shop", "pod-template-hash": hash}},
            "spec": {"containers": [{"name": "odoo", "image": "odoo:bad"}]},
        });
        let status = json!({"phase": "Pending", "containerStatuses": [{
            "name": "odoo", "ready": false, "restartCount": 0, "image": "odoo:bad", "imageID": "",
            "state": {"waiting": {"reason": reason, "message": message}}}]});
        (manifest, status)
    };
    let write_pod = async |(manifest, status): (Value, Value)| {
        let name = manifest["metadata"]["name"].as_str().unwrap().to_owned();
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(manifest).unwrap(),
        )
        .await
        .unwrap();
        write_status(&pods, &name, status).await;
    };
    // A pod of the previous template crash-looping does not fail the rollout that replaces it.
    write_pod(pod(
        "shop-old5f7b-x1",
        "old5f7b",
        "CrashLoopBackOff",
        "back-off 5m0s",
    ))
    .await;
    write_pod(pod(
        "shop-new7c9d-a1",
        "new7c9d",
        "ErrImagePull",
        "rpc error: not found",
    ))
    .await;

    let mut waiting = Waiting::start(&cluster, target.clone(), available());
    waiting
        .told("pod shop-new7c9d-a1/odoo: ErrImagePull: rpc error: not found")
        .await;
    write_status(
        &pods,
        "shop-new7c9d-a1",
        json!({"containerStatuses": [{
            "name": "odoo", "ready": false, "restartCount": 0, "image": "odoo:bad", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff",
                                  "message": "Back-off pulling image \"odoo:bad\""}}}]}),
    )
    .await;
    let err = waiting.ended().await.unwrap_err();
    assert_eq!(
        err,
        ClusterError::WaitFailed {
            object: format!("Deployment {namespace}/shop"),
            reason: "pod shop-new7c9d-a1/odoo: ImagePullBackOff: Back-off pulling image \
                     \"odoo:bad\""
                .into(),
        }
    );
}

#[tokio::test]
async fn a_failed_job_fails_the_wait_with_its_message() {
    let Some(path) = kubeconfig() else { return };
    let (cluster, namespace) = setup(&path, "w-job").await;
    let jobs = namespaced(&client(&path).await, &namespace, "batch/v1", "Job", "jobs");
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "migrate", "image": "odoo:17"}]}}},
    });
    cluster.apply(&job, false).await.unwrap();
    let target = reference("batch/v1", "Job", &namespace, "migrate");
    let wait = WaitSpec::new(Condition::Complete).failing_when(vec![Condition::Gone]);
    let mut waiting = Waiting::start(&cluster, target, wait);
    waiting.told("not complete").await;
    write_status(
        &jobs,
        "migrate",
        json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True",
               "reason": "BackoffLimitExceeded",
               "message": "Job has reached the specified backoff limit",
               "lastProbeTime": "2026-01-01T00:00:00Z",
               "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    )
    .await;
    assert_eq!(
        waiting.ended().await.unwrap_err().to_string(),
        format!(
            "Job {namespace}/migrate failed: BackoffLimitExceeded: Job has reached the specified \
             backoff limit"
        )
    );
}

/// A custom resource of this test's own, with a status subresource, as operators define theirs.
const WIDGETS: &str = r#"{
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.waits.eyrie.test"},
  "spec": {
    "group": "waits.eyrie.test", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
    "versions": [{"name": "v1", "served": true, "storage": true,
                  "subresources": {"status": {}},
                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]
  }
}"#;

#[tokio::test]
async fn a_field_wait_never_passes_nor_fails_on_a_stale_status() {
    let Some(path) = kubeconfig() else { return };
    let (cluster, namespace) = setup(&path, "w-field").await;
    let crd: Value = serde_json::from_str(WIDGETS).unwrap();
    cluster.apply(&crd, true).await.unwrap();
    let established = Condition::parse("condition:Established").unwrap();
    tokio::time::timeout(
        EVENTUALLY,
        cluster.wait_for(&ObjectRef::of_manifest(&crd).unwrap(), &established),
    )
    .await
    .expect("the CRD was never established")
    .unwrap();

    let widget = |size: u32| {
        json!({"apiVersion": "waits.eyrie.test/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": namespace}, "spec": {"size": size}})
    };
    // The kind is new: the driver's discovery may take a moment to see it served.
    tokio::time::timeout(EVENTUALLY, async {
        while cluster.apply(&widget(1), false).await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the Widget kind was never served");
    let widgets = namespaced(
        &client(&path).await,
        &namespace,
        "waits.eyrie.test/v1",
        "Widget",
        "widgets",
    );
    let target = reference("waits.eyrie.test/v1", "Widget", &namespace, "w");
    let ready = || {
        WaitSpec::new(Condition::parse("field:status.state=ready").unwrap()).failing_when(
            WaitSpec::parse_fail_when("field:status.state=error\ncondition:Failed").unwrap(),
        )
    };
    write_status(
        &widgets,
        "w",
        json!({"observedGeneration": 1, "state": "ready"}),
    )
    .await;
    Waiting::start(&cluster, target.clone(), ready())
        .ended()
        .await
        .unwrap();

    // A redeploy whose operator still tells of the previous generation, even of its error.
    cluster.apply(&widget(2), false).await.unwrap();
    write_status(
        &widgets,
        "w",
        json!({"observedGeneration": 1, "state": "error", "message": "old trouble"}),
    )
    .await;
    let mut waiting = Waiting::start(&cluster, target.clone(), ready());
    waiting
        .told("waiting for the controller to observe generation 2")
        .await;
    write_status(
        &widgets,
        "w",
        json!({"observedGeneration": 2, "state": "ready", "message": null}),
    )
    .await;
    waiting.ended().await.unwrap();

    // The operator declares the next generation failed: the wait says so, with its reason.
    cluster.apply(&widget(3), false).await.unwrap();
    let mut waiting = Waiting::start(&cluster, target, ready());
    waiting
        .told("waiting for the controller to observe generation 3")
        .await;
    write_status(
        &widgets,
        "w",
        json!({"observedGeneration": 3, "state": "error", "messages": ["no capacity", "retrying"]}),
    )
    .await;
    assert_eq!(
        waiting.ended().await.unwrap_err(),
        ClusterError::WaitFailed {
            object: format!("Widget {namespace}/w"),
            reason: "field:status.state=error: no capacity; retrying".into(),
        }
    );
}
