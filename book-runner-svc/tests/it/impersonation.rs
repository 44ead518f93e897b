//! The second wall (issue #15): jobs talk to a real API server as their project, so what the
//! runner's own confinement would miss, the API server's RBAC refuses; and the RBAC in deploy/
//! is what a platform team applies to let a project work in a namespace.

use eyrie_book_runner_svc::{
    cluster::{
        ApplyOutcome, Cluster, ClusterError, ObjectRef,
        confined::Confined,
        kubernetes::{Connection, Identity, KubernetesCluster},
    },
    config::RunnerSettings,
    domain::{
        confinement::Confinement,
        manifest::parse_documents,
        snapshot::{ClusterConnection, sample_snapshot},
    },
    engine::clusters::ClusterProvider,
};
use serde_json::{Value, json};

use crate::kube_api::{client, grant_project, kubeconfig, may_in};

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn admin(path: &str) -> KubernetesCluster {
    KubernetesCluster::new(Connection::Kubeconfig {
        path: path.into(),
        context: String::new(),
    })
}

fn as_project(path: &str, slug: &str) -> KubernetesCluster {
    admin(path).impersonating(Identity::project(slug).unwrap())
}

const RUNNER_ROLE: &str = include_str!("../../../deploy/kubernetes/base/book-runner-rbac.yaml");

fn config_map(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "planted", "namespace": namespace}, "data": {"a": "b"}})
}

fn forbidden_to(err: &ClusterError, user: &str) -> bool {
    matches!(err, ClusterError::Refused { reason, message }
        if reason == "Forbidden" && message.contains(&format!("User \"{user}\"")))
}

#[tokio::test]
async fn what_the_first_wall_refuses_the_api_server_refuses_to_the_project_too() {
    let Some(path) = kubeconfig() else { return };
    let admin = admin(&path);
    let slug = unique("imp");
    let own = unique("k-imp-own");
    let other = unique("k-imp-other");
    admin
        .apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}),
            false,
        )
        .await
        .unwrap();
    grant_project(&admin, &slug, &own).await;
    let project = as_project(&path, &slug);
    let user = format!("eyrie:project:{slug}");
    assert_eq!(project.identity().unwrap().user(), user);

    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": unique("planted")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": own}],
    });
    let crd_plural = unique("planted");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{crd_plural}.example.com")},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": crd_plural, "kind": "Planted"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    });
    let rule = Confinement::to_namespace(&own);
    for manifest in [config_map(&other), binding, crd] {
        let target = ObjectRef::of_manifest(&manifest).unwrap();
        // The first wall refuses it before sending...
        let first = Confined::new(&project, &rule)
            .apply(&manifest, true)
            .await
            .unwrap_err();
        assert!(
            matches!(&first, ClusterError::Refused { reason, .. } if reason == "OutsideProject"),
            "{target}: {first:?}"
        );
        // ...and without it, the API server refuses the project's identity.
        let second = project.apply(&manifest, true).await.unwrap_err();
        assert!(forbidden_to(&second, &user), "{target}: {second:?}");
        let second = project.create_if_absent(&manifest).await.unwrap_err();
        assert!(forbidden_to(&second, &user), "{target}: {second:?}");
        assert_eq!(
            admin.get(&target).await.unwrap(),
            None,
            "{target} reached the cluster"
        );
    }
    // Nor can it read or delete another namespace's objects.
    let elsewhere = ObjectRef {
        api_version: "v1".into(),
        kind: "Secret".into(),
        namespace: Some(other.clone()),
        name: "anything".into(),
    };
    let err = project.get(&elsewhere).await.unwrap_err();
    assert!(forbidden_to(&err, &user), "{err:?}");
    let err = project.delete(&elsewhere).await.unwrap_err();
    assert!(forbidden_to(&err, &user), "{err:?}");

    // In its own namespace, bound with deploy/'s role, the same kinds of objects are applied.
    assert_eq!(
        project.apply(&config_map(&own), false).await.unwrap(),
        ApplyOutcome::Created
    );
    assert!(
        project
            .create_if_absent(&json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "generated", "namespace": own}, "stringData": {"p": "x"}}))
            .await
            .unwrap()
    );
    let own_namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": own}});
    // Its own Namespace, which the platform made, it may apply (label) by name.
    project.apply(&own_namespace, false).await.unwrap();
    let stored = admin
        .get(&ObjectRef::of_manifest(&config_map(&own)).unwrap())
        .await
        .unwrap()
        .expect("applied");
    assert_eq!(stored["data"]["a"], "b");
    // A Namespace of its own choosing it cannot make: the platform creates namespaces.
    let err = project
        .apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": unique("k-imp-new")}}),
            false,
        )
        .await
        .unwrap_err();
    assert!(forbidden_to(&err, &user), "{err:?}");
}

#[tokio::test]
async fn jobs_of_two_projects_on_one_connection_each_act_as_their_own_project() {
    let Some(path) = kubeconfig() else { return };
    let admin = admin(&path);
    let (first, second) = (unique("imp-a"), unique("imp-b"));
    let namespace = unique("k-imp-a");
    grant_project(&admin, &first, &namespace).await;

    let root = tempfile::tempdir().unwrap();
    let provider = ClusterProvider::new(&RunnerSettings {
        directory_root: root.path().to_path_buf(),
        ..RunnerSettings::default()
    });
    let mut snapshot = sample_snapshot(&[]);
    snapshot.clusters[0].connection = ClusterConnection::Kubernetes {
        kubeconfig_path: path.clone(),
        context: String::new(),
        in_cluster: false,
    };
    let mut project = snapshot.project.clone();
    project.slug = first.clone();
    let as_first = provider.connect(&snapshot.clusters[0], &project).unwrap();
    project.slug = second.clone();
    let as_second = provider.connect(&snapshot.clusters[0], &project).unwrap();

    // The second project's job, on the same connection, is not the first project.
    let err = as_second
        .apply(&config_map(&namespace), false)
        .await
        .unwrap_err();
    assert!(
        forbidden_to(&err, &format!("eyrie:project:{second}")),
        "{err:?}"
    );
    assert_eq!(
        as_first
            .apply(&config_map(&namespace), false)
            .await
            .unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(provider.kubernetes().len(), 2);
}

/// Asks the API server whether `user` may do `verb` on `resource` (named `name`).
async fn may(
    client: &kube::Client,
    user: &str,
    verb: &str,
    resource: (&str, &str),
    name: Option<&str>,
) -> bool {
    may_in(client, user, verb, resource, name, None).await
}

#[tokio::test]
async fn the_runners_own_role_lets_it_impersonate_projects_and_nothing_else() {
    let Some(path) = kubeconfig() else { return };
    let admin = admin(&path);
    // deploy/'s role, bound to a user standing for the runner's service account.
    let runner = unique("eyrie-test-runner");
    for mut document in parse_documents(RUNNER_ROLE).unwrap() {
        if document["kind"] == "ClusterRoleBinding" {
            document["metadata"]["name"] = json!(runner);
            document["subjects"] = json!([{"apiGroup": "rbac.authorization.k8s.io",
                                           "kind": "User", "name": runner}]);
        }
        admin.apply(&document, true).await.unwrap();
    }
    let client = client(&path).await;
    let core = |resource| ("", resource);
    let user = Some("eyrie:project:acme");
    // Asked until the authorizer has seen the binding just written (a moment later).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !may(&client, &runner, "impersonate", core("users"), user).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runner may never impersonate projects"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let group = Some("eyrie:projects");
    assert!(may(&client, &runner, "impersonate", core("groups"), group).await);
    for (verb, resource, name) in [
        ("impersonate", core("groups"), Some("system:masters")),
        ("impersonate", core("serviceaccounts"), Some("default")),
        ("list", core("secrets"), None),
        ("watch", core("secrets"), None),
        ("get", core("secrets"), Some("any")),
        ("create", ("apps", "deployments"), None),
        ("create", core("namespaces"), None),
        ("delete", core("namespaces"), Some("kube-system")),
    ] {
        assert!(
            !may(&client, &runner, verb, resource, name).await,
            "the runner itself may {verb} {resource:?} {name:?}"
        );
    }
}
