//! What a book's Kubernetes steps may touch: the deployment's own namespace and that Namespace
//! itself, plus the project's boundary that a global admin sets (further namespaces, further
//! cluster-scoped kinds, as Argo CD's AppProject `destinations` and `clusterResourceWhitelist`).
//! Checked before anything is sent, so a book written by one project cannot reach another
//! project's namespace or the cluster's access control (ClusterRoleBinding,
//! CustomResourceDefinition, admission webhooks, ...).
//!
//! Reads (get, wait, list) may also reach the namespaces of the project's other deployments:
//! one project is one tenant, and that is how an Odoo deployment reads the credentials a PGO
//! deployment of the same project keeps in its own namespace. Writes never go there.

use serde::{Deserialize, Serialize};

use crate::cluster::ObjectRef;

/// What a project's books may touch besides each deployment's own namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    /// Further namespaces, by name or `*` glob.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Further cluster-scoped kinds, as `group/Kind` (core group empty), `*` globs allowed.
    #[serde(default)]
    pub cluster_kinds: Vec<String>,
    /// Hosts `http.check` may reach although the runner refuses them by default (see
    /// [`crate::domain::hosts`]).
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// Whether a kind's objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectScope {
    /// In one namespace (Deployment, Secret, PostgresCluster, ...).
    Namespaced,
    /// Cluster-wide (Namespace, ClusterRole, CustomResourceDefinition, ...).
    Cluster,
}

/// Kinds of the core Kubernetes APIs and common add-ons that are cluster-scoped, for drivers
/// that cannot ask an API server. Any other kind is taken as namespaced.
pub const KNOWN_CLUSTER_SCOPED: [&str; 16] = [
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "StorageClass",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "ClusterIssuer",
];

/// The rule of one deployment's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    namespace: String,
    boundary: Boundary,
    /// Namespaces of the project's other deployments: readable, never writable.
    readable: Vec<String>,
}

/// What an operation does to the object it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// get, wait, list.
    Read,
    /// apply, create, patch, delete.
    Write,
}

impl Confinement {
    /// Steps confined to `namespace`, the deployment's.
    pub fn to_namespace(namespace: impl Into<String>) -> Self {
        Self::within(namespace, Boundary::default())
    }

    /// Steps confined to `namespace` and the project's `boundary`.
    pub fn within(namespace: impl Into<String>, boundary: Boundary) -> Self {
        Self {
            namespace: namespace.into(),
            boundary,
            readable: Vec::new(),
        }
    }

    /// The same rule, also letting reads reach `namespaces` (the project's other deployments').
    #[must_use]
    pub fn reading(mut self, namespaces: impl IntoIterator<Item = String>) -> Self {
        self.readable = namespaces.into_iter().collect();
        self
    }

    /// Refuses writing `target` unless the rule lets a book touch it, naming the object and
    /// the rule.
    pub fn check(&self, target: &ObjectRef, scope: ObjectScope) -> Result<(), String> {
        self.check_access(target, scope, Access::Write)
    }

    /// Refuses `access` to `target` unless the rule allows it, naming the object and the rule.
    pub fn check_access(
        &self,
        target: &ObjectRef,
        scope: ObjectScope,
        access: Access,
    ) -> Result<(), String> {
        let own = &self.namespace;
        let allowed = match scope {
            ObjectScope::Namespaced => target.namespace.as_deref().is_some_and(|namespace| {
                namespace == own
                    || self
                        .boundary
                        .namespaces
                        .iter()
                        .any(|pattern| glob_matches(pattern, namespace))
                    || (access == Access::Read
                        && self.readable.iter().any(|readable| readable == namespace))
            }),
            ObjectScope::Cluster => {
                let group = target
                    .api_version
                    .rsplit_once('/')
                    .map_or("", |(group, _)| group);
                let kind = format!("{group}/{}", target.kind);
                (target.kind == "Namespace" && target.api_version == "v1" && &target.name == own)
                    || self
                        .boundary
                        .cluster_kinds
                        .iter()
                        .any(|pattern| glob_matches(pattern, &kind))
            }
        };
        if allowed {
            return Ok(());
        }
        let what = match scope {
            ObjectScope::Namespaced => match &target.namespace {
                Some(namespace) => format!("it is in namespace {namespace}"),
                None => "it names no namespace".to_owned(),
            },
            ObjectScope::Cluster => format!("{} is cluster-scoped", target.kind),
        };
        let reads = match access {
            Access::Read if !self.readable.is_empty() => {
                ", and read the namespaces of its project's other deployments"
            }
            _ => "",
        };
        Err(format!(
            "refused {target} ({}): {what}, and a book may touch only objects in its \
             deployment's namespace {own} and that Namespace itself, plus the namespaces and \
             cluster-scoped kinds of its project's boundary ({}){reads}",
            target.api_version,
            self.describe_boundary()
        ))
    }

    fn describe_boundary(&self) -> String {
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        format!(
            "namespaces: {}; cluster-scoped kinds: {}",
            list(&self.boundary.namespaces),
            list(&self.boundary.cluster_kinds)
        )
    }
}

/// Whether `text` matches `pattern`, in which `*` stands for any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn the_deployment_namespace_and_its_namespace_object_are_allowed() {
        let rule = Confinement::to_namespace("shop-site");
        let service = object("v1", "Service", Some("shop-site"), "web");
        assert_eq!(rule.check(&service, ObjectScope::Namespaced), Ok(()));
        let namespace = object("v1", "Namespace", None, "shop-site");
        assert_eq!(rule.check(&namespace, ObjectScope::Cluster), Ok(()));
    }

    #[test]
    fn globs_match_whole_names() {
        for (pattern, text, matches) in [
            ("shared-*", "shared-db", true),
            ("shared-*", "shared-", true),
            ("shared-*", "xshared-db", false),
            ("*-cache", "web-cache", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "anything", true),
        ] {
            assert_eq!(glob_matches(pattern, text), matches, "{pattern} {text}");
        }
    }

    #[test]
    fn the_project_boundary_adds_namespaces_and_cluster_kinds() {
        let rule = Confinement::within(
            "shop-site",
            Boundary {
                namespaces: vec!["shared-*".into()],
                cluster_kinds: vec![
                    "rbac.authorization.k8s.io/ClusterRole".into(),
                    "/PersistentVolume".into(),
                ],
                hosts: vec![],
            },
        );
        let allowed = [
            (
                object("v1", "ConfigMap", Some("shared-cache"), "c"),
                ObjectScope::Namespaced,
            ),
            (
                object(
                    "rbac.authorization.k8s.io/v1",
                    "ClusterRole",
                    None,
                    "reader",
                ),
                ObjectScope::Cluster,
            ),
            (
                object("v1", "PersistentVolume", None, "pv"),
                ObjectScope::Cluster,
            ),
        ];
        for (target, scope) in allowed {
            assert_eq!(rule.check(&target, scope), Ok(()), "{target}");
        }
        for (target, scope) in [
            (
                object("v1", "ConfigMap", Some("shared"), "c"),
                ObjectScope::Namespaced,
            ),
            (
                object(
                    "rbac.authorization.k8s.io/v1",
                    "ClusterRoleBinding",
                    None,
                    "b",
                ),
                ObjectScope::Cluster,
            ),
            (
                object("v1", "Namespace", None, "shared-cache"),
                ObjectScope::Cluster,
            ),
        ] {
            let err = rule.check(&target, scope).unwrap_err();
            assert!(err.contains("namespaces: shared-*"), "{err}");
        }
    }

    #[test]
    fn the_project_s_other_namespaces_are_readable_and_never_writable() {
        let rule = Confinement::to_namespace("acme-erp").reading(["acme-db".to_owned()]);
        let secret = object("v1", "Secret", Some("acme-db"), "db-pguser-odoo");
        let scope = ObjectScope::Namespaced;
        assert_eq!(rule.check_access(&secret, scope, Access::Read), Ok(()));
        let err = rule
            .check_access(&secret, scope, Access::Write)
            .unwrap_err();
        assert!(err.contains("in namespace acme-db"), "{err}");
        assert!(rule.check(&secret, scope).is_err());
        // Only the listed namespaces, by exact name, and only namespaced objects.
        let other = object("v1", "Secret", Some("acme-db2"), "s");
        let err = rule.check_access(&other, scope, Access::Read).unwrap_err();
        assert!(
            err.contains("read the namespaces of its project's other"),
            "{err}"
        );
        let namespace = object("v1", "Namespace", None, "acme-db");
        assert!(
            rule.check_access(&namespace, ObjectScope::Cluster, Access::Read)
                .is_err()
        );
    }

    #[test]
    fn anything_else_is_refused_naming_object_and_rule() {
        let rule = Confinement::to_namespace("shop-site");
        for (target, scope, says) in [
            (
                object("v1", "Secret", Some("kube-system"), "token"),
                ObjectScope::Namespaced,
                "in namespace kube-system",
            ),
            (
                object("v1", "ConfigMap", None, "c"),
                ObjectScope::Namespaced,
                "names no namespace",
            ),
            (
                object("v1", "Namespace", None, "other"),
                ObjectScope::Cluster,
                "Namespace is cluster-scoped",
            ),
            (
                object(
                    "rbac.authorization.k8s.io/v1",
                    "ClusterRoleBinding",
                    Some("shop-site"),
                    "admin",
                ),
                ObjectScope::Cluster,
                "ClusterRoleBinding is cluster-scoped",
            ),
            (
                object(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    "x.example.com",
                ),
                ObjectScope::Cluster,
                "cluster-scoped",
            ),
        ] {
            let err = rule.check(&target, scope).unwrap_err();
            assert!(
                err.contains(says)
                    && err.contains(&target.name)
                    && err.contains("namespace shop-site"),
                "{err}"
            );
        }
    }
}
