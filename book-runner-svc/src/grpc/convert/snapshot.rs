//! Deployment snapshots between the contract and the domain.

use eyrie_platform::status::FieldViolation;
use eyrie_proto::v1::{self as pb, deployment_snapshot as snap};

use crate::domain::{
    confinement::Boundary,
    snapshot::{
        ClusterConnection, ClusterFacts, DeploymentFacts, GroupFacts, NamedFacts, ScopeFacts,
        Snapshot,
    },
};

/// Reads a snapshot sent in request field `field`, naming each missing part.
pub fn snapshot_from_proto(
    field: &str,
    snapshot: pb::DeploymentSnapshot,
) -> Result<Snapshot, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut missing = |part: &str| {
        violations.push(FieldViolation::new(
            format!("{field}.{part}"),
            "is required",
        ))
    };
    let deployment = snapshot.deployment.clone().unwrap_or_else(|| {
        missing("deployment");
        snap::Deployment::default()
    });
    let project = snapshot.project.clone().unwrap_or_else(|| {
        missing("project");
        snap::Project::default()
    });
    let group = snapshot.group.clone().unwrap_or_else(|| {
        missing("group");
        snap::Group::default()
    });
    let scope = snapshot.scope.clone().unwrap_or_else(|| {
        missing("scope");
        snap::Scope::default()
    });
    if snapshot.namespace.is_empty() {
        missing("namespace");
    }
    let deployment_type = group.r#type();
    let state = deployment.state();
    let key_fields = deployment.key_fields.unwrap_or_default();
    if deployment.name.is_empty() {
        violations.push(FieldViolation::new(
            format!("{field}.deployment.name"),
            "is required",
        ));
    }
    let mut clusters = Vec::with_capacity(snapshot.clusters.len());
    for (index, cluster) in snapshot.clusters.into_iter().enumerate() {
        let connection = match cluster.connection {
            Some(snap::cluster::Connection::Directory(directory)) => ClusterConnection::Directory {
                path: directory.path,
                simulated: directory.simulated,
            },
            Some(snap::cluster::Connection::Kubernetes(kubernetes)) => {
                ClusterConnection::Kubernetes {
                    kubeconfig_path: kubernetes.kubeconfig_path,
                    context: kubernetes.context,
                    in_cluster: kubernetes.in_cluster,
                }
            }
            None => {
                violations.push(FieldViolation::new(
                    format!("{field}.clusters[{index}].connection"),
                    "is required (kubernetes or directory)",
                ));
                continue;
            }
        };
        clusters.push(ClusterFacts {
            name: cluster.name,
            slug: cluster.slug,
            display_name: cluster.display_name,
            connection,
        });
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(Snapshot {
        deployment: DeploymentFacts {
            name: deployment.name,
            slug: deployment.slug,
            display_name: deployment.display_name,
            repository: key_fields.repository,
            branch: key_fields.branch,
            image: key_fields.image,
            commit_ref: key_fields.commit_ref,
            clusters: key_fields.clusters,
            scope: key_fields.scope,
            parameters: key_fields.parameters.into_iter().collect(),
            state: lower_enum(state.as_str_name(), "DEPLOYMENT_STATE_"),
        },
        boundary: project
            .boundary
            .map(|boundary| Boundary {
                namespaces: boundary.namespaces,
                cluster_kinds: boundary.cluster_kinds,
                hosts: boundary.hosts,
            })
            .unwrap_or_default(),
        project: NamedFacts {
            name: project.name,
            slug: project.slug,
            display_name: project.display_name,
        },
        group: GroupFacts {
            name: group.name,
            slug: group.slug,
            display_name: group.display_name,
            deployment_type: lower_enum(deployment_type.as_str_name(), "DEPLOYMENT_TYPE_"),
        },
        scope: ScopeFacts {
            name: scope.name,
            slug: scope.slug,
            display_name: scope.display_name,
            allow_drop: scope.allow_drop,
        },
        clusters,
        namespace: snapshot.namespace,
        version: snapshot.version,
        revision: snapshot.revision,
        project_namespaces: snapshot.project_namespaces,
    })
}

/// `DEPLOYMENT_TYPE_ODOO` → `odoo`, as templates see enum values.
fn lower_enum(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// The snapshot as the contract shows it (in a Job).
pub fn snapshot_to_proto(snapshot: &Snapshot) -> pb::DeploymentSnapshot {
    let deployment = &snapshot.deployment;
    pb::DeploymentSnapshot {
        deployment: Some(snap::Deployment {
            name: deployment.name.clone(),
            slug: deployment.slug.clone(),
            display_name: deployment.display_name.clone(),
            key_fields: Some(pb::KeyFields {
                repository: deployment.repository.clone(),
                branch: deployment.branch.clone(),
                image: deployment.image.clone(),
                commit_ref: deployment.commit_ref.clone(),
                clusters: deployment.clusters.clone(),
                scope: deployment.scope.clone(),
                parameters: deployment.parameters.clone().into_iter().collect(),
            }),
            state: pb::DeploymentState::from_str_name(&format!(
                "DEPLOYMENT_STATE_{}",
                deployment.state.to_ascii_uppercase()
            ))
            .unwrap_or_default()
            .into(),
        }),
        project: Some(snap::Project {
            name: snapshot.project.name.clone(),
            slug: snapshot.project.slug.clone(),
            display_name: snapshot.project.display_name.clone(),
            boundary: Some(pb::ProjectBoundary {
                namespaces: snapshot.boundary.namespaces.clone(),
                cluster_kinds: snapshot.boundary.cluster_kinds.clone(),
                hosts: snapshot.boundary.hosts.clone(),
            }),
        }),
        group: Some(snap::Group {
            name: snapshot.group.name.clone(),
            slug: snapshot.group.slug.clone(),
            display_name: snapshot.group.display_name.clone(),
            r#type: pb::DeploymentType::from_str_name(&format!(
                "DEPLOYMENT_TYPE_{}",
                snapshot.group.deployment_type.to_ascii_uppercase()
            ))
            .unwrap_or_default()
            .into(),
        }),
        scope: Some(snap::Scope {
            name: snapshot.scope.name.clone(),
            slug: snapshot.scope.slug.clone(),
            display_name: snapshot.scope.display_name.clone(),
            allow_drop: snapshot.scope.allow_drop,
        }),
        clusters: snapshot
            .clusters
            .iter()
            .map(|cluster| snap::Cluster {
                name: cluster.name.clone(),
                slug: cluster.slug.clone(),
                display_name: cluster.display_name.clone(),
                connection: Some(match &cluster.connection {
                    ClusterConnection::Directory { path, simulated } => {
                        snap::cluster::Connection::Directory(pb::DirectoryConnection {
                            path: path.clone(),
                            simulated: *simulated,
                        })
                    }
                    ClusterConnection::Kubernetes {
                        kubeconfig_path,
                        context,
                        in_cluster,
                    } => snap::cluster::Connection::Kubernetes(pb::KubernetesConnection {
                        kubeconfig_path: kubeconfig_path.clone(),
                        context: context.clone(),
                        in_cluster: *in_cluster,
                    }),
                }),
            })
            .collect(),
        namespace: snapshot.namespace.clone(),
        version: snapshot.version,
        revision: snapshot.revision,
        project_namespaces: snapshot.project_namespaces.clone(),
    }
}

#[cfg(test)]
mod tests {
    use eyrie_platform::testing::sample_deployment_snapshot;

    use super::*;

    #[test]
    fn the_project_s_namespaces_survive_both_ways() {
        let sent = pb::DeploymentSnapshot {
            project_namespaces: vec!["acme-db".into(), "acme-live".into()],
            ..sample_deployment_snapshot("odoo", "c1", &[])
        };
        let snapshot = snapshot_from_proto("snapshot", sent.clone()).unwrap();
        assert_eq!(snapshot.project_namespaces, ["acme-db", "acme-live"]);
        assert_eq!(
            snapshot_to_proto(&snapshot).project_namespaces,
            sent.project_namespaces
        );
        // Jobs stored before snapshots had the list read as none.
        let mut stored = serde_json::to_value(&snapshot).unwrap();
        stored.as_object_mut().unwrap().remove("project_namespaces");
        let old: Snapshot = serde_json::from_value(stored).unwrap();
        assert!(old.project_namespaces.is_empty());
    }
}
