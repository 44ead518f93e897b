//! The kubernetes driver, and every built-in book, against a real API server.

use std::time::Duration;

use eyrie_book_runner_svc::{
    cluster::{
        ApplyOutcome, Cluster, ClusterError, Condition, DeleteOutcome, ObjectRef,
        confined::Confined,
        kubernetes::{Connection, KubernetesCluster},
        simulation::Faults,
    },
    domain::{
        builtin::builtin_books, confinement::Confinement, manifest::parse_documents,
        render::render_book, template::Templates,
    },
    grpc::convert::snapshot::snapshot_from_proto,
};
use eyrie_platform::testing::sample_deployment_snapshot;
use eyrie_proto::v1::{self as pb, BookPhase, JobStatus, OperationAction};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::{
    harness::each_runner,
    kube_api::{
        UPSTREAM_CRDS, client, derived_crd, grant_project, install_crds, kubeconfig, namespaced,
        pruned, start_controllers, start_controllers_with_faults,
    },
};

/// A namespace of its own for each test run: the API server outlives runs locally.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn cluster(path: &str) -> KubernetesCluster {
    KubernetesCluster::new(Connection::Kubeconfig {
        path: path.into(),
        context: String::new(),
    })
}

fn deployment(namespace: &str, replicas: i64) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    })
}

async fn namespace(cluster: &KubernetesCluster, name: &str) {
    let manifest = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    cluster.apply(&manifest, false).await.unwrap();
}

fn web(namespace: &str) -> ObjectRef {
    ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some(namespace.into()),
        name: "web".into(),
    }
}

#[tokio::test]
async fn apply_is_idempotent_patch_and_delete_act_for_real() {
    let Some(path) = kubeconfig() else { return };
    let cluster = cluster(&path);
    let k_apply = unique("k-apply");
    namespace(&cluster, &k_apply).await;

    assert_eq!(
        cluster
            .apply(&deployment(&k_apply, 2), false)
            .await
            .unwrap(),
        ApplyOutcome::Created
    );
    let first = cluster.get(&web(&k_apply)).await.unwrap().unwrap();
    assert_eq!(
        cluster
            .apply(&deployment(&k_apply, 2), false)
            .await
            .unwrap(),
        ApplyOutcome::Unchanged
    );
    let second = cluster.get(&web(&k_apply)).await.unwrap().unwrap();
    assert_eq!(
        first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"],
        "a re-apply wrote"
    );
    let managers: Vec<_> = second["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(managers, ["eyrie"]);

    cluster
        .merge_patch(&web(&k_apply), &json!({"spec": {"replicas": 0}}))
        .await
        .unwrap();
    assert_eq!(
        cluster.get(&web(&k_apply)).await.unwrap().unwrap()["spec"]["replicas"],
        0
    );

    assert_eq!(
        cluster.delete(&web(&k_apply)).await.unwrap(),
        DeleteOutcome::Deleted
    );
    cluster
        .wait_for(&web(&k_apply), &Condition::Gone)
        .await
        .unwrap();
    assert_eq!(
        cluster.delete(&web(&k_apply)).await.unwrap(),
        DeleteOutcome::NotFound
    );
    let missing = cluster
        .merge_patch(&web(&k_apply), &json!({"spec": {"replicas": 1}}))
        .await
        .unwrap_err();
    assert_eq!(
        missing,
        ClusterError::NotFound(format!("Deployment {k_apply}/web"))
    );
}

#[tokio::test]
async fn a_conflict_with_another_field_manager_is_reported_unless_forced() {
    let Some(path) = kubeconfig() else { return };
    let cluster = cluster(&path);
    let k_conflict = unique("k-conflict");
    namespace(&cluster, &k_conflict).await;
    cluster
        .apply(&deployment(&k_conflict, 1), false)
        .await
        .unwrap();

    // Someone scales the deployment by hand, with a server-side apply of their own.
    let other = client(&path).await;
    let deployments = namespaced(&other, &k_conflict, "apps/v1", "Deployment", "deployments");
    deployments
        .patch(
            "web",
            &PatchParams::apply("kubectl-scale").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}})),
        )
        .await
        .unwrap();

    let err = cluster
        .apply(&deployment(&k_conflict, 1), false)
        .await
        .unwrap_err();
    match &err {
        ClusterError::Conflict { manager, field, .. } => {
            assert_eq!(manager, "kubectl-scale");
            assert_eq!(field, ".spec.replicas");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        cluster
            .apply(&deployment(&k_conflict, 1), true)
            .await
            .unwrap(),
        ApplyOutcome::Configured
    );
    assert_eq!(
        cluster.get(&web(&k_conflict)).await.unwrap().unwrap()["spec"]["replicas"],
        1
    );
}

#[tokio::test]
async fn a_confined_cluster_refuses_other_namespaces_and_cluster_objects_before_sending() {
    let Some(path) = kubeconfig() else { return };
    let cluster = cluster(&path);
    let own = unique("k-own");
    let other = unique("k-other");
    namespace(&cluster, &other).await;
    let rule = Confinement::to_namespace(&own);
    let confined = Confined::new(&cluster, &rule);

    // The deployment's own Namespace, and objects in it, go through.
    let own_namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": own}});
    assert_eq!(
        confined.apply(&own_namespace, false).await.unwrap(),
        ApplyOutcome::Created
    );
    let config = |namespace: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "planted", "namespace": namespace}});
    assert_eq!(
        confined.apply(&config(&own), false).await.unwrap(),
        ApplyOutcome::Created
    );

    let binding_name = unique("planted");
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": binding_name, "namespace": own},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": own}],
    });
    let crd_name = format!("{}.example.com", unique("planted"));
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": crd_name.split('.').next().unwrap(), "kind": "Planted"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    });
    for (manifest, says) in [
        (config(&other), format!("it is in namespace {other}")),
        // Claims the deployment's namespace, but the kind is cluster-scoped: the server says so.
        (
            binding.clone(),
            "ClusterRoleBinding is cluster-scoped".to_owned(),
        ),
        (
            crd.clone(),
            "CustomResourceDefinition is cluster-scoped".to_owned(),
        ),
    ] {
        match confined.apply(&manifest, true).await {
            Err(ClusterError::Refused { reason, message }) => {
                assert_eq!(reason, "OutsideProject");
                assert!(message.contains(&says), "{message}");
            }
            other => panic!("{manifest}: expected a refusal, got {other:?}"),
        }
        let target = ObjectRef::of_manifest(&manifest).unwrap();
        let target = match target.kind.as_str() {
            "ConfigMap" => target,
            _ => ObjectRef {
                namespace: None,
                ..target
            },
        };
        assert_eq!(
            cluster.get(&target).await.unwrap(),
            None,
            "{target} reached the server"
        );
    }
    // Reads and deletes are confined too.
    assert!(
        confined
            .get(&ObjectRef::of_manifest(&config(&other)).unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_user_without_rights_gets_forbidden_with_the_servers_message() {
    let Some(_) = kubeconfig() else { return };
    let nobody =
        std::env::var("EYRIE_TEST_KUBECONFIG_NOBODY").expect("the script writes both kubeconfigs");
    let cluster = cluster(&nobody);
    let err = cluster.get(&web("default")).await.unwrap_err();
    match err {
        ClusterError::Refused { reason, message } => {
            assert_eq!(reason, "Forbidden");
            assert!(
                message.contains("nobody") && message.contains("deployments"),
                "{message}"
            );
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn waits_end_when_status_is_written_and_are_pending_until_then() {
    let Some(path) = kubeconfig() else { return };
    let cluster = cluster(&path);
    let k_wait = unique("k-wait");
    namespace(&cluster, &k_wait).await;
    cluster.apply(&deployment(&k_wait, 1), false).await.unwrap();

    let pending = tokio::time::timeout(
        Duration::from_millis(500),
        cluster.wait_for(&web(&k_wait), &Condition::Available),
    )
    .await;
    assert!(pending.is_err(), "available without any status");

    let other = client(&path).await;
    let deployments = namespaced(&other, &k_wait, "apps/v1", "Deployment", "deployments");
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        deployments
            .patch_status(
                "web",
                &PatchParams::default(),
                // A finished rollout, as `kubectl rollout status` reads it.
                &Patch::Merge(json!({"status": {
                    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "availableReplicas": 1, "readyReplicas": 1,
                }})),
            )
            .await
            .unwrap();
    });
    tokio::time::timeout(
        Duration::from_secs(20),
        cluster.wait_for(&web(&k_wait), &Condition::Available),
    )
    .await
    .expect("the wait did not see the status")
    .unwrap();
    writer.await.unwrap();
}

#[tokio::test]
async fn an_unreachable_cluster_fails_clearly_instead_of_hanging() {
    let Some(path) = kubeconfig() else { return };
    // The same credentials, aimed at a port where nothing listens.
    let text = std::fs::read_to_string(&path).unwrap();
    let server =
        std::env::var("EYRIE_TEST_KUBE_SERVER").expect("the script exports the server URL");
    let dir = tempfile::tempdir().unwrap();
    let unreachable = dir.path().join("kubeconfig");
    std::fs::write(&unreachable, text.replace(&server, "https://127.0.0.1:1")).unwrap();
    let cluster = cluster(unreachable.to_str().unwrap());
    let err = tokio::time::timeout(Duration::from_secs(60), cluster.get(&web("default")))
        .await
        .expect("an unreachable cluster hung")
        .unwrap_err();
    assert!(matches!(err, ClusterError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cluster unavailable: cannot reach the API server https://127.0.0.1:1/"),
        "{err}"
    );
}

#[test]
fn the_derivation_drops_only_what_the_readme_says() {
    let text_of = |crd: &Value| serde_json::to_string(crd).unwrap();
    for (text, rules, defaults) in [(UPSTREAM_CRDS[0], 21, 38), (UPSTREAM_CRDS[1], 5, 69)] {
        let upstream: Value = serde_saphyr::from_str(text).unwrap();
        let upstream_text = text_of(&upstream);
        assert_eq!(
            upstream_text
                .matches("\"x-kubernetes-validations\"")
                .count(),
            rules
        );
        assert_eq!(upstream_text.matches("\"default\":\"\"").count(), defaults);
        let derived = text_of(&derived_crd(text));
        assert!(!derived.contains("x-kubernetes-validations"));
        assert!(!derived.contains("\"default\":\"\""));
    }
    // PGO's instances are a list map keyed by name, which had `default: ""`.
    let pgo = derived_crd(UPSTREAM_CRDS[0]);
    let instances = &pgo["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["instances"];
    assert_eq!(instances["x-kubernetes-list-map-keys"], json!(["name"]));
    assert!(
        instances["items"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("name"))
    );
}

/// One deployment of one type, run through its built-in books on the real API server.
struct Lifecycle<'a> {
    runner: crate::harness::Runner,
    kubeconfig: String,
    deployment_type: &'a str,
    namespace: String,
    parameters: &'a [(&'a str, &'a str)],
    /// The deployment's image, instead of the sample's.
    image: Option<&'a str>,
}

impl Lifecycle<'_> {
    fn snapshot(&self) -> pb::DeploymentSnapshot {
        let mut snapshot = sample_deployment_snapshot(self.deployment_type, "", self.parameters);
        snapshot.namespace = self.namespace.clone();
        if let Some(image) = self.image {
            let deployment = snapshot.deployment.as_mut().unwrap();
            deployment.key_fields.as_mut().unwrap().image = image.to_owned();
        }
        snapshot.clusters[0].connection = Some(
            pb::deployment_snapshot::cluster::Connection::Kubernetes(pb::KubernetesConnection {
                kubeconfig_path: self.kubeconfig.clone(),
                context: String::new(),
                in_cluster: false,
            }),
        );
        snapshot
    }

    /// Checks that the server stored every field of every custom resource `phase`'s book
    /// sent, with the value sent: 1.20 prunes unknown fields of a custom resource silently.
    async fn check_custom_resources(&self, phase: &str) {
        let book = builtin_books()
            .into_iter()
            .find(|book| book.name == format!("{}-{phase}", self.deployment_type))
            .unwrap();
        let snapshot = snapshot_from_proto("snapshot", self.snapshot()).unwrap();
        let steps = render_book(&Templates::default(), &book, &snapshot, "deploy").unwrap();
        let kube = client(&self.kubeconfig).await;
        let mut checked = 0;
        for sent in steps
            .iter()
            .filter_map(|step| step.arguments.get("manifest"))
            .flat_map(|manifest| parse_documents(manifest).unwrap())
            .filter(|manifest| {
                matches!(
                    manifest["kind"].as_str(),
                    Some("PostgresCluster" | "PerconaXtraDBCluster")
                )
            })
        {
            let kind = sent["kind"].as_str().unwrap();
            let plural = format!("{}s", kind.to_lowercase());
            let api = namespaced(
                &kube,
                &self.namespace,
                sent["apiVersion"].as_str().unwrap(),
                kind,
                &plural,
            );
            let stored = serde_json::to_value(
                api.get(sent["metadata"]["name"].as_str().unwrap())
                    .await
                    .unwrap(),
            )
            .unwrap();
            let mut found = Vec::new();
            pruned(&sent, &stored, kind, &mut found);
            assert!(
                found.is_empty(),
                "{} {phase}: the server did not keep what the book sent:\n{}",
                self.deployment_type,
                found.join("\n")
            );
            checked += 1;
        }
        let operated = matches!(self.deployment_type, "pgo" | "pxc");
        assert_eq!(
            checked > 0,
            operated,
            "{} {phase}: {checked} custom resources checked",
            self.deployment_type
        );
    }

    async fn run(&mut self, phase: BookPhase, action: OperationAction) {
        let done = self.finish(phase, action).await;
        let phase_name = phase_name(phase);
        assert_eq!(
            done.status(),
            JobStatus::Succeeded,
            "{} {phase_name}: {} {:?}",
            self.deployment_type,
            done.message,
            done.steps
                .iter()
                .map(|s| (&s.name, s.status(), &s.message))
                .collect::<Vec<_>>()
        );
        if phase == BookPhase::Deploy {
            self.check_custom_resources(&phase_name).await;
        }
    }

    /// Runs the book of `phase` to its end, whatever it is.
    async fn finish(&mut self, phase: BookPhase, action: OperationAction) -> pb::Job {
        let phase_name = phase_name(phase);
        let snapshot = self.snapshot();
        let request = eyrie_proto::internal::v1::StartJobRequest {
            request_id: format!(
                "{}-{phase_name}-{}",
                self.namespace,
                uuid::Uuid::new_v4().simple()
            ),
            snapshot: Some(snapshot),
            action: action.into(),
            phase: phase.into(),
            book: format!("books/{}-{phase_name}", self.deployment_type),
            operation: "op".into(),
            ..Default::default()
        };
        let job = self
            .runner
            .runner
            .start_job(request)
            .await
            .unwrap()
            .into_inner();
        self.runner.finished(&job.name).await
    }
}

fn phase_name(phase: BookPhase) -> String {
    phase
        .as_str_name()
        .trim_start_matches("BOOK_PHASE_")
        .to_lowercase()
}

/// Where pause shows on the main object: API, kind, plural, JSON pointer and paused value.
type PausedAt<'a> = (&'a str, &'a str, &'a str, &'a str, serde_json::Value);

/// Runs every built-in book of `deployment_type` unchanged on the real API server.
async fn builtin_lifecycle(
    deployment_type: &str,
    parameters: &[(&str, &str)],
    paused: PausedAt<'_>,
) {
    let Some(path) = kubeconfig() else { return };
    install_crds(&path).await;
    let namespace = unique(&format!("k-{deployment_type}"));
    // The runner acts as the snapshot's project (`acme`): bound in this namespace as a platform
    // team would, with deploy/'s role and sample.
    grant_project(&cluster(&path), "acme", &namespace).await;
    let kube = client(&path).await;
    // The password Secret an odoo deployment names, kept in its own namespace here (the odoo
    // books copy it into `<slug>-db-password` there).
    if let Some((_, secret)) = parameters
        .iter()
        .find(|(name, _)| *name == "db_password_secret")
    {
        let manifest = json!({"apiVersion": "v1", "kind": "Secret",
                              "metadata": {"name": secret, "namespace": namespace},
                              "stringData": {"password": "secret"}});
        cluster(&path).apply(&manifest, true).await.unwrap();
    }
    let _controllers = start_controllers(kube.clone(), &namespace);
    let (_, runner) = each_runner().await.into_iter().next().unwrap();
    let (api_version, kind, plural, pointer, expected) = paused;
    let object = namespaced(&kube, &namespace, api_version, kind, plural);
    let mut lifecycle = Lifecycle {
        runner,
        kubeconfig: path,
        deployment_type,
        namespace: namespace.clone(),
        parameters,
        image: None,
    };

    lifecycle
        .run(BookPhase::Initialize, OperationAction::Deploy)
        .await;
    lifecycle
        .run(BookPhase::Deploy, OperationAction::Deploy)
        .await;
    // The spec is the same: no new generation (status writes of the controllers are theirs).
    let before = object.get("shop").await.unwrap().metadata.generation;
    lifecycle
        .run(BookPhase::Deploy, OperationAction::Deploy)
        .await;
    let after = object.get("shop").await.unwrap().metadata.generation;
    assert_eq!(
        before, after,
        "{deployment_type}: a second deploy changed the workload"
    );

    lifecycle
        .run(BookPhase::Pause, OperationAction::Pause)
        .await;
    let paused_object = serde_json::to_value(object.get("shop").await.unwrap()).unwrap();
    assert_eq!(
        paused_object.pointer(pointer),
        Some(&expected),
        "{deployment_type}: not paused"
    );
    lifecycle
        .run(BookPhase::Deploy, OperationAction::Deploy)
        .await;
    let resumed = serde_json::to_value(object.get("shop").await.unwrap()).unwrap();
    assert_ne!(
        resumed.pointer(pointer),
        Some(&expected),
        "{deployment_type}: still paused"
    );

    lifecycle.run(BookPhase::Drop, OperationAction::Drop).await;
    let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(kube);
    assert!(
        namespaces.get_opt(&namespace).await.unwrap().is_none(),
        "{deployment_type}: namespace left"
    );
}

#[tokio::test]
async fn odoo_books_run_unchanged_on_a_real_api_server() {
    builtin_lifecycle(
        "odoo",
        &[
            ("host", "shop.example"),
            ("db_host", "pg"),
            ("db_user", "odoo"),
            ("db_password_secret", "pg-pguser-odoo"),
        ],
        (
            "apps/v1",
            "Deployment",
            "deployments",
            "/spec/replicas",
            json!(0),
        ),
    )
    .await;
}

#[tokio::test]
async fn pgo_books_run_unchanged_on_a_real_api_server() {
    builtin_lifecycle(
        "pgo",
        &[],
        (
            "postgres-operator.crunchydata.com/v1beta1",
            "PostgresCluster",
            "postgresclusters",
            "/spec/shutdown",
            json!(true),
        ),
    )
    .await;
}

#[tokio::test]
async fn pxc_books_run_unchanged_on_a_real_api_server() {
    builtin_lifecycle(
        "pxc",
        &[],
        (
            "pxc.percona.com/v1",
            "PerconaXtraDBCluster",
            "perconaxtradbclusters",
            "/spec/pause",
            json!(true),
        ),
    )
    .await;
}

#[tokio::test]
async fn none_books_run_unchanged_on_a_real_api_server() {
    builtin_lifecycle(
        "none",
        &[],
        (
            "apps/v1",
            "Deployment",
            "deployments",
            "/spec/replicas",
            json!(0),
        ),
    )
    .await;
}

/// The stale-ready rule on the real API server: a redeploy with a new PXC image waits until the
/// operator (simulated) reports the new generation ready, which it does once every node was
/// replaced, one at a time, from the new template.
#[tokio::test]
async fn a_pxc_redeploy_with_a_new_image_ends_once_every_node_runs_it() {
    let Some(path) = kubeconfig() else { return };
    install_crds(&path).await;
    let namespace = unique("k-pxc-image");
    grant_project(&cluster(&path), "acme", &namespace).await;
    let kube = client(&path).await;
    let _controllers = start_controllers(kube.clone(), &namespace);
    let (_, runner) = each_runner().await.into_iter().next().unwrap();
    let mut lifecycle = Lifecycle {
        runner,
        kubeconfig: path,
        deployment_type: "pxc",
        namespace: namespace.clone(),
        parameters: &[],
        image: Some("percona/percona-xtradb-cluster:8.0.41"),
    };
    lifecycle
        .run(BookPhase::Initialize, OperationAction::Deploy)
        .await;
    lifecycle
        .run(BookPhase::Deploy, OperationAction::Deploy)
        .await;
    lifecycle.image = Some("percona/percona-xtradb-cluster:8.0.42");
    lifecycle
        .run(BookPhase::Deploy, OperationAction::Deploy)
        .await;

    let clusters = namespaced(
        &kube,
        &namespace,
        "pxc.percona.com/v1",
        "PerconaXtraDBCluster",
        "perconaxtradbclusters",
    );
    let stored = serde_json::to_value(clusters.get("shop").await.unwrap()).unwrap();
    assert_eq!(stored["metadata"]["generation"], 2);
    assert_eq!(stored["status"]["observedGeneration"], 2);
    assert_eq!(stored["status"]["state"], "ready");
    let pods = namespaced(&kube, &namespace, "v1", "Pod", "pods");
    let nodes: Vec<String> = pods
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/component=pxc"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|pod| {
            pod.data["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.iter().all(|image| image.ends_with(":8.0.42")),
        "the deploy ended before the rollout: {nodes:?}"
    );
    lifecycle.run(BookPhase::Drop, OperationAction::Drop).await;
}

/// The check of what the server stored sees what 1.20 prunes silently: a field the CRD lacks.
#[tokio::test]
async fn a_field_the_crd_lacks_is_pruned_and_the_check_sees_it() {
    let Some(path) = kubeconfig() else { return };
    install_crds(&path).await;
    let cluster = cluster(&path);
    let k_pruned = unique("k-pruned");
    namespace(&cluster, &k_pruned).await;
    let sent = json!({
        "apiVersion": "pxc.percona.com/v1", "kind": "PerconaXtraDBCluster",
        "metadata": {"name": "db", "namespace": k_pruned},
        "spec": {"crVersion": "1.19.0", "pxc": {"size": 3, "sise": 3, "image": "percona/percona-xtradb-cluster:8.0.42"}},
    });
    cluster.apply(&sent, false).await.unwrap();
    let stored = cluster
        .get(&ObjectRef::of_manifest(&sent).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut found = Vec::new();
    pruned(&sent, &stored, "PerconaXtraDBCluster", &mut found);
    assert_eq!(
        found,
        ["PerconaXtraDBCluster.spec.pxc.sise: sent 3, not stored"]
    );
}

/// A pod that cannot pull its image fails the deploy on the real API server, with the kubelet's
/// reason, read through the project's own rights (pods and ReplicaSets of its namespace).
#[tokio::test]
async fn an_image_the_kubelet_cannot_pull_fails_the_deploy_with_its_reason() {
    let Some(path) = kubeconfig() else { return };
    let namespace = unique("k-pull");
    grant_project(&cluster(&path), "acme", &namespace).await;
    let faults = Faults {
        unpullable_images: ["registry.example/shop:404".to_owned()].into(),
        ..Faults::default()
    };
    let _controllers = start_controllers_with_faults(client(&path).await, &namespace, faults);
    let (_, runner) = each_runner().await.into_iter().next().unwrap();
    let mut lifecycle = Lifecycle {
        runner,
        kubeconfig: path,
        deployment_type: "none",
        namespace,
        parameters: &[],
        image: Some("registry.example/shop:404"),
    };
    lifecycle
        .run(BookPhase::Initialize, OperationAction::Deploy)
        .await;
    let done = lifecycle
        .finish(BookPhase::Deploy, OperationAction::Deploy)
        .await;
    assert_eq!(done.status(), JobStatus::Failed);
    let failure = done
        .steps
        .iter()
        .find(|step| !step.message.is_empty())
        .map(|step| step.message.clone())
        .unwrap_or_default();
    assert!(
        failure.contains("ImagePullBackOff")
            && failure.contains("Back-off pulling image \"registry.example/shop:404\""),
        "{failure}"
    );
}
