//! The RBAC in deploy/: the runner itself may only impersonate projects; the role platform
//! teams bind to a project per namespace grants what the built-in books do there, and nothing
//! more.

use std::collections::{BTreeMap, BTreeSet};

use eyrie_book_runner_svc::{
    cluster::kubernetes::{PROJECT_USER_PREFIX, PROJECTS_GROUP},
    domain::{builtin::builtin_books, step_kind::StepKind},
};

use super::{Node, deploy_dir, read_yaml};

/// (API group, resource, verb).
type Grant = (String, String, String);

/// `Deployment` → `deployments`, `Ingress` → `ingresses`, `PostgresCluster` → `postgresclusters`.
fn resource_of(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

fn group_of(api_version: &str) -> String {
    api_version
        .split_once('/')
        .map_or("", |(group, _)| group)
        .to_owned()
}

/// The (apiVersion, kind) of each document of a manifest template: its top-level lines.
fn kinds_of_template(manifest: &str) -> Vec<(String, String)> {
    let unquote = |text: &str| text.trim().trim_matches('"').trim_matches('\'').to_owned();
    let mut kinds = Vec::new();
    let (mut api_version, mut kind) = (None, None);
    for line in manifest.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            if let (Some(api_version), Some(kind)) = (api_version.take(), kind.take()) {
                kinds.push((api_version, kind));
            }
        } else if let Some(value) = line.strip_prefix("apiVersion:") {
            api_version = Some(unquote(value));
        } else if let Some(value) = line.strip_prefix("kind:") {
            kind = Some(unquote(value));
        }
    }
    kinds
}

/// What the built-in books do through the kubernetes driver, as RBAC grants.
fn grants_the_books_need() -> BTreeMap<Grant, BTreeSet<String>> {
    let mut needed: BTreeMap<Grant, BTreeSet<String>> = BTreeMap::new();
    for book in builtin_books() {
        for step in &book.steps {
            let at = format!("{} step {:?}", book.name, step.name);
            let kind = StepKind::parse(&step.uses).unwrap_or_else(|| panic!("{at}: {}", step.uses));
            let argument = |name: &str| {
                let value = step.arguments.get(name).map(|v| v.trim().to_owned());
                let value = value.unwrap_or_else(|| panic!("{at}: no {name}"));
                assert!(!value.contains("{{"), "{at}: {name} is a template: {value}");
                value
            };
            let (objects, verbs): (Vec<(String, String)>, &[&str]) = match kind {
                // get, then a server-side apply (a patch, which creates the object if absent).
                StepKind::Apply => (
                    kinds_of_template(&step.arguments["manifest"]),
                    &["get", "create", "patch"],
                ),
                // An apply, then a wait for `complete`: a watch of the Job and its pods.
                StepKind::Job => {
                    workload_reads(&mut needed, "Job", "complete", &at);
                    (
                        kinds_of_template(&step.arguments["manifest"]),
                        &["get", "create", "patch", "list", "watch"],
                    )
                }
                StepKind::Patch => (
                    vec![(argument("api_version"), argument("kind"))],
                    &["patch"],
                ),
                StepKind::Delete => (
                    vec![(argument("api_version"), argument("kind"))],
                    &["delete"],
                ),
                // A watch of one object by name: list, then watch; and the pods (and, for a
                // Deployment, the ReplicaSets) of a workload, listed to fail fast when they
                // are stuck.
                StepKind::Wait => {
                    let kind = argument("kind");
                    let condition = argument("condition");
                    workload_reads(&mut needed, &kind, &condition, &at);
                    (vec![(argument("api_version"), kind)], &["list", "watch"])
                }
                StepKind::Secret => (vec![("v1".to_owned(), "Secret".to_owned())], &["create"]),
                // Reads the source (get), then a server-side apply of the copy (get, patch,
                // which creates).
                StepKind::CopySecret => (
                    vec![("v1".to_owned(), "Secret".to_owned())],
                    &["get", "create", "patch"],
                ),
                StepKind::HttpCheck => (Vec::new(), &[]),
            };
            if matches!(kind, StepKind::Apply | StepKind::Job) {
                assert!(!objects.is_empty(), "{at}: no apiVersion/kind found");
            }
            for (api_version, kind) in objects {
                for verb in verbs {
                    needed
                        .entry((
                            group_of(&api_version),
                            resource_of(&kind),
                            (*verb).to_owned(),
                        ))
                        .or_default()
                        .insert(at.clone());
                }
            }
        }
    }
    needed
}

/// What a wait for `condition` on a `kind` lists besides the object: the pods of a workload
/// (stuck pods fail the wait) and a Deployment's ReplicaSets (which pods are the new ones).
fn workload_reads(
    needed: &mut BTreeMap<Grant, BTreeSet<String>>,
    kind: &str,
    condition: &str,
    at: &str,
) {
    let mut grant = |group: &str, resource: &str| {
        needed
            .entry((group.to_owned(), resource.to_owned(), "list".to_owned()))
            .or_default()
            .insert(at.to_owned());
    };
    match (kind, condition) {
        ("Deployment", "available") => {
            grant("", "pods");
            grant("apps", "replicasets");
        }
        ("StatefulSet", "ready") | ("Job", "complete") => grant("", "pods"),
        _ => {}
    }
}

/// The ClusterRole `name` in `file` (under deploy/kubernetes/).
fn cluster_role<'a>(documents: &'a [Node], name: &str, file: &str) -> &'a Node {
    documents
        .iter()
        .find(|document| {
            document.get("kind").and_then(Node::text) == Some("ClusterRole")
                && document
                    .get("metadata")
                    .and_then(|metadata| metadata.get("name"))
                    .and_then(Node::text)
                    == Some(name)
        })
        .unwrap_or_else(|| panic!("no ClusterRole {name} in {file}"))
}

/// The rules of `role`: each as its grants and its resource names (empty: any).
fn rules_of(role: &Node) -> Vec<(BTreeSet<Grant>, Vec<String>)> {
    let mut rules = Vec::new();
    for rule in role.get("rules").map(Node::list).unwrap_or_default() {
        let field = |name: &str| rule.get(name).map(Node::texts).unwrap_or_default();
        assert!(
            rule.get("nonResourceURLs").is_none(),
            "rules name API groups, resources and verbs only"
        );
        let mut grants = BTreeSet::new();
        for group in field("apiGroups") {
            for resource in field("resources") {
                for verb in field("verbs") {
                    assert!(
                        ![group, resource, verb].contains(&"*"),
                        "no wildcard in the role"
                    );
                    grants.insert((group.to_owned(), resource.to_owned(), verb.to_owned()));
                }
            }
        }
        let names = field("resourceNames")
            .into_iter()
            .map(str::to_owned)
            .collect();
        rules.push((grants, names));
    }
    rules
}

fn read(file: &str) -> Vec<Node> {
    read_yaml(&deploy_dir().join("kubernetes").join(file))
}

/// Compares what the books need with what a role grants, naming what is missing or spare.
fn assert_exactly(
    needed: &BTreeMap<Grant, BTreeSet<String>>,
    granted: &BTreeSet<Grant>,
    file: &str,
) {
    let missing: Vec<String> = needed
        .iter()
        .filter(|(grant, _)| !granted.contains(*grant))
        .map(|((group, resource, verb), steps)| {
            let first = steps.iter().next().unwrap();
            format!(
                "{verb} {resource} (group {group:?}), for {first} and {} more",
                steps.len() - 1
            )
        })
        .collect();
    let spare: Vec<String> = granted
        .iter()
        .filter(|grant| !needed.contains_key(*grant))
        .map(|(group, resource, verb)| format!("{verb} {resource} (group {group:?})"))
        .collect();
    assert!(
        missing.is_empty() && spare.is_empty(),
        "deploy/kubernetes/{file}\n  misses: {missing:#?}\n  grants what no built-in book \
         uses: {spare:#?}"
    );
}

fn is_namespace_grant((_, resource, _): &Grant) -> bool {
    resource == "namespaces"
}

#[test]
fn the_project_role_grants_what_the_builtin_books_do_in_a_namespace_and_nothing_more() {
    let file = "base/project-role.yaml";
    let needed: BTreeMap<Grant, BTreeSet<String>> = grants_the_books_need()
        .into_iter()
        .filter(|(grant, _)| !is_namespace_grant(grant))
        .collect();
    let documents = read(file);
    let rules = rules_of(cluster_role(&documents, "eyrie-project", file));
    assert!(
        rules.iter().all(|(_, names)| names.is_empty()),
        "eyrie-project is bound per namespace: it names kinds, not objects"
    );
    let granted: BTreeSet<Grant> = rules.into_iter().flat_map(|(grants, _)| grants).collect();
    assert!(
        !granted.iter().any(is_namespace_grant),
        "namespaces are cluster-scoped: a RoleBinding of eyrie-project cannot grant them"
    );
    assert_exactly(&needed, &granted, file);
    // The kinds the issue names are all there.
    for resource in [
        "secrets",
        "deployments",
        "services",
        "ingresses",
        "persistentvolumeclaims",
        "postgresclusters",
        "perconaxtradbclusters",
    ] {
        assert!(
            granted.iter().any(|(_, granted, _)| granted == resource),
            "{resource}"
        );
    }
}

#[test]
fn the_sample_binds_a_project_in_one_namespace_and_to_that_namespace_by_name() {
    let file = "samples/project-namespace.yaml";
    let documents = read(file);
    let user = format!("{PROJECT_USER_PREFIX}acme");
    let of_kind = |kind: &'static str| {
        documents
            .iter()
            .filter(move |d| d.get("kind").and_then(Node::text) == Some(kind))
    };
    let text_at = |node: &Node, path: &[&str]| -> Option<String> {
        let mut at = node;
        for key in path {
            at = at.get(key)?;
        }
        at.text().map(str::to_owned)
    };
    let binds_the_project = |binding: &Node| {
        let subjects = binding.get("subjects").map(Node::list).unwrap_or_default();
        subjects.len() == 1
            && text_at(&subjects[0], &["kind"]).as_deref() == Some("User")
            && text_at(&subjects[0], &["name"]).as_deref() == Some(user.as_str())
    };
    let role_binding = of_kind("RoleBinding").next().expect("a RoleBinding");
    assert_eq!(
        text_at(role_binding, &["metadata", "namespace"]).as_deref(),
        Some("acme-shop")
    );
    assert_eq!(
        text_at(role_binding, &["roleRef", "name"]).as_deref(),
        Some("eyrie-project")
    );
    assert!(binds_the_project(role_binding), "{user}");
    assert!(of_kind("ClusterRoleBinding").all(binds_the_project));

    // The Namespace itself: every verb the books use on it, by name, except `create`, which
    // Kubernetes cannot limit to a name (the platform creates the namespace).
    let create = (String::new(), "namespaces".to_owned(), "create".to_owned());
    let needed: BTreeMap<Grant, BTreeSet<String>> = grants_the_books_need()
        .into_iter()
        .filter(|(grant, _)| is_namespace_grant(grant))
        .collect();
    assert!(
        needed.contains_key(&create),
        "the books apply their Namespace"
    );
    let needed = needed
        .into_iter()
        .filter(|(grant, _)| *grant != create)
        .collect();
    let rules = rules_of(cluster_role(
        &documents,
        "eyrie-project-acme-namespace-acme-shop",
        file,
    ));
    assert!(
        rules.iter().all(|(_, names)| names == &["acme-shop"]),
        "every rule names the namespace"
    );
    let granted: BTreeSet<Grant> = rules.into_iter().flat_map(|(grants, _)| grants).collect();
    assert_exactly(&needed, &granted, file);
}

#[test]
fn the_runner_itself_may_only_impersonate_projects() {
    let file = "base/book-runner-rbac.yaml";
    let documents = read(file);
    let rules = rules_of(cluster_role(&documents, "eyrie-book-runner", file));
    let mut impersonated = BTreeMap::new();
    for (grants, names) in rules {
        for (group, resource, verb) in grants {
            assert_eq!(
                (group.as_str(), verb.as_str()),
                ("", "impersonate"),
                "the runner's own role grants impersonation only, not {verb} {resource}"
            );
            impersonated.insert(resource, names.clone());
        }
    }
    assert_eq!(
        impersonated,
        BTreeMap::from([
            ("groups".to_owned(), vec![PROJECTS_GROUP.to_owned()]),
            // Project names are not known in deploy/: the runner builds the user name itself,
            // always `eyrie:project:<DNS label>`.
            ("users".to_owned(), vec![]),
        ]),
        "users and the projects' group only: no serviceaccounts, uids or userextras, and no \
         other group"
    );
}

#[test]
fn kinds_and_resources_are_read_like_the_api_server_names_them() {
    assert_eq!(resource_of("Ingress"), "ingresses");
    assert_eq!(
        resource_of("PersistentVolumeClaim"),
        "persistentvolumeclaims"
    );
    assert_eq!(resource_of("PerconaXtraDBCluster"), "perconaxtradbclusters");
    assert_eq!(resource_of("NetworkPolicy"), "networkpolicies");
    assert_eq!(group_of("v1"), "");
    assert_eq!(
        group_of("postgres-operator.crunchydata.com/v1beta1"),
        "postgres-operator.crunchydata.com"
    );
    let manifest = "{% if x %}\napiVersion: v1\nkind: \"Service\"\nmetadata:\n  kind: nested\n---\napiVersion: apps/v1\nkind: Deployment\n{% endif %}\n";
    assert_eq!(
        kinds_of_template(manifest),
        [
            ("v1".to_owned(), "Service".to_owned()),
            ("apps/v1".to_owned(), "Deployment".to_owned())
        ]
    );
}
