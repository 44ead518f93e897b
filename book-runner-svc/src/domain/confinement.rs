//! What a book's Kubernetes steps may touch: the deployment's own namespace, and of the
//! cluster-scoped objects only that Namespace itself. Checked before anything is sent, so a
//! book written by one project cannot reach another project's namespace or the cluster's
//! access control (ClusterRoleBinding, CustomResourceDefinition, admission webhooks, ...).
//! The API server's own RBAC, through the project's impersonated identity, is the second wall.

use crate::cluster::ObjectRef;

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
}

impl Confinement {
    /// Steps confined to `namespace`, the deployment's.
    pub fn to_namespace(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }

    /// Refuses `target` unless the rule lets a book touch it, naming the object and the rule.
    pub fn check(&self, target: &ObjectRef, scope: ObjectScope) -> Result<(), String> {
        let own = &self.namespace;
        let allowed = match scope {
            ObjectScope::Namespaced => target.namespace.as_deref() == Some(own.as_str()),
            ObjectScope::Cluster => {
                target.kind == "Namespace" && target.api_version == "v1" && &target.name == own
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
        Err(format!(
            "refused {target} ({}): {what}, and a book may touch only objects in its \
             deployment's namespace {own} and that Namespace itself",
            target.api_version
        ))
    }
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
