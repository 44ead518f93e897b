//! book-runner-svc's ClusterRole grants what the built-in books do, and nothing more.

use std::collections::{BTreeMap, BTreeSet};

use eyrie_book_runner_svc::domain::{builtin::builtin_books, step_kind::StepKind};

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
                // An apply, then polls of the Job.
                StepKind::Job => (
                    kinds_of_template(&step.arguments["manifest"]),
                    &["get", "create", "patch"],
                ),
                StepKind::Patch => (
                    vec![(argument("api_version"), argument("kind"))],
                    &["patch"],
                ),
                StepKind::Delete => (
                    vec![(argument("api_version"), argument("kind"))],
                    &["delete"],
                ),
                // A watch of one object by name: list, then watch.
                StepKind::Wait => (
                    vec![(argument("api_version"), argument("kind"))],
                    &["list", "watch"],
                ),
                StepKind::Secret => (vec![("v1".to_owned(), "Secret".to_owned())], &["create"]),
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

fn grants_of_the_role() -> BTreeSet<Grant> {
    let path = deploy_dir().join("kubernetes/base/book-runner-rbac.yaml");
    let documents = read_yaml(&path);
    let role = documents
        .iter()
        .find(|document| document.get("kind").and_then(Node::text) == Some("ClusterRole"))
        .expect("a ClusterRole in book-runner-rbac.yaml");
    let mut grants = BTreeSet::new();
    for rule in role.get("rules").map(Node::list).unwrap_or_default() {
        let field = |name: &str| rule.get(name).map(Node::texts).unwrap_or_default();
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "rules name API groups, resources and verbs only"
        );
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
    }
    grants
}

#[test]
fn the_book_runner_role_grants_what_the_builtin_books_do_and_nothing_more() {
    let needed = grants_the_books_need();
    let granted = grants_of_the_role();
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
        "deploy/kubernetes/base/book-runner-rbac.yaml\n  misses: {missing:#?}\n  grants what no \
         built-in book uses: {spare:#?}"
    );
    // The kinds the issue names are all there.
    for resource in [
        "namespaces",
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
