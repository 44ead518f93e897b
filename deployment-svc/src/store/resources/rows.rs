//! Rows to domain values and back. A row that does not read back is `StoreError::Corrupt`.

use sea_orm::ActiveValue::Set;

use crate::{
    domain::{
        StoreError,
        names::{ClusterName, DeploymentName, GroupName, ProjectName, ScopeName},
        resources::{
            Boundary, Cluster, ClusterConnection, Deployment, DeploymentGroup, DeploymentState,
            DeploymentType, GroupBooks, KeyFields, Project, Scope,
        },
    },
    store::entity::{cluster, deployment, deployment_group, project, scope},
};

fn corrupt(table: &str, name: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{table} {name}: {what}"))
}

pub(super) fn project_row(project: &Project) -> project::ActiveModel {
    project::ActiveModel {
        name: Set(project.name.to_string()),
        slug: Set(project.name.project.clone()),
        display_name: Set(project.display_name.clone()),
        create_time: Set(project.create_time),
        boundary_namespaces: Set(json_list(&project.boundary.namespaces)),
        boundary_cluster_kinds: Set(json_list(&project.boundary.cluster_kinds)),
        boundary_hosts: Set(json_list(&project.boundary.hosts)),
        revision: Set(project.revision),
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serialises")
}

pub(super) fn project_from_row(row: project::Model) -> Result<Project, StoreError> {
    Ok(Project {
        name: ProjectName::parse("name", &row.name)
            .map_err(|_| corrupt("project", &row.name, "name"))?,
        display_name: row.display_name,
        create_time: row.create_time,
        boundary: Boundary {
            namespaces: serde_json::from_str(&row.boundary_namespaces)
                .map_err(|_| corrupt("project", &row.name, "boundary_namespaces"))?,
            cluster_kinds: serde_json::from_str(&row.boundary_cluster_kinds)
                .map_err(|_| corrupt("project", &row.name, "boundary_cluster_kinds"))?,
            hosts: serde_json::from_str(&row.boundary_hosts)
                .map_err(|_| corrupt("project", &row.name, "boundary_hosts"))?,
        },
        revision: row.revision,
    })
}

pub(super) fn scope_row(scope: &Scope) -> scope::ActiveModel {
    scope::ActiveModel {
        name: Set(scope.name.to_string()),
        project: Set(scope.name.parent().to_string()),
        slug: Set(scope.name.scope.clone()),
        display_name: Set(scope.display_name.clone()),
        allow_drop: Set(scope.allow_drop),
        create_time: Set(scope.create_time),
    }
}

pub(super) fn scope_from_row(row: scope::Model) -> Result<Scope, StoreError> {
    Ok(Scope {
        name: ScopeName::parse("name", &row.name)
            .map_err(|_| corrupt("scope", &row.name, "name"))?,
        display_name: row.display_name,
        allow_drop: row.allow_drop,
        create_time: row.create_time,
    })
}

pub(super) fn cluster_row(cluster: &Cluster) -> cluster::ActiveModel {
    let (kubeconfig_path, context, in_cluster, directory_path, simulated) =
        match &cluster.connection {
            ClusterConnection::Kubernetes {
                kubeconfig_path,
                context,
                in_cluster,
            } => (
                kubeconfig_path.clone(),
                context.clone(),
                *in_cluster,
                String::new(),
                false,
            ),
            ClusterConnection::Directory { path, simulated } => (
                String::new(),
                String::new(),
                false,
                path.clone(),
                *simulated,
            ),
        };
    cluster::ActiveModel {
        name: Set(cluster.name.to_string()),
        project: Set(cluster.name.parent().to_string()),
        slug: Set(cluster.name.cluster.clone()),
        display_name: Set(cluster.display_name.clone()),
        driver: Set(cluster.connection.driver().to_owned()),
        kubeconfig_path: Set(kubeconfig_path),
        kube_context: Set(context),
        in_cluster: Set(in_cluster),
        directory_path: Set(directory_path),
        simulated: Set(simulated),
        create_time: Set(cluster.create_time),
    }
}

pub(super) fn cluster_from_row(row: cluster::Model) -> Result<Cluster, StoreError> {
    let connection = match row.driver.as_str() {
        "kubernetes" => ClusterConnection::Kubernetes {
            kubeconfig_path: row.kubeconfig_path,
            context: row.kube_context,
            in_cluster: row.in_cluster,
        },
        "directory" => ClusterConnection::Directory {
            path: row.directory_path,
            simulated: row.simulated,
        },
        _ => return Err(corrupt("cluster", &row.name, "driver")),
    };
    Ok(Cluster {
        name: ClusterName::parse("name", &row.name)
            .map_err(|_| corrupt("cluster", &row.name, "name"))?,
        display_name: row.display_name,
        connection,
        create_time: row.create_time,
    })
}

pub(super) fn group_row(group: &DeploymentGroup) -> deployment_group::ActiveModel {
    deployment_group::ActiveModel {
        name: Set(group.name.to_string()),
        project: Set(group.name.parent().to_string()),
        slug: Set(group.name.group.clone()),
        display_name: Set(group.display_name.clone()),
        deployment_type: Set(group.deployment_type.as_str().to_owned()),
        initialize_book: Set(group.books.initialize.clone()),
        deploy_book: Set(group.books.deploy.clone()),
        pause_book: Set(group.books.pause.clone()),
        drop_book: Set(group.books.drop.clone()),
        revision: Set(group.revision),
        create_time: Set(group.create_time),
        update_time: Set(group.update_time),
    }
}

pub(super) fn group_from_row(row: deployment_group::Model) -> Result<DeploymentGroup, StoreError> {
    let bad = |what| corrupt("deployment group", &row.name, what);
    Ok(DeploymentGroup {
        name: GroupName::parse("name", &row.name).map_err(|_| bad("name"))?,
        display_name: row.display_name.clone(),
        deployment_type: DeploymentType::parse(&row.deployment_type).ok_or_else(|| bad("type"))?,
        books: GroupBooks {
            initialize: row.initialize_book.clone(),
            deploy: row.deploy_book.clone(),
            pause: row.pause_book.clone(),
            drop: row.drop_book.clone(),
        },
        revision: row.revision,
        create_time: row.create_time,
        update_time: row.update_time,
    })
}

pub(super) fn deployment_row(d: &Deployment) -> Result<deployment::ActiveModel, StoreError> {
    let json = |value: serde_json::Result<String>| {
        value.map_err(|err| corrupt("deployment", &d.name.to_string(), &err.to_string()))
    };
    let fields = &d.key_fields;
    Ok(deployment::ActiveModel {
        name: Set(d.name.to_string()),
        project: Set(format!("projects/{}", d.name.project)),
        deployment_group: Set(d.group().to_string()),
        slug: Set(d.name.deployment.clone()),
        display_name: Set(d.display_name.clone()),
        deployment_type: Set(d.deployment_type.as_str().to_owned()),
        scope: Set(fields.scope.clone()),
        clusters: Set(json(serde_json::to_string(&fields.clusters))?),
        repository: Set(fields.repository.clone()),
        branch: Set(fields.branch.clone()),
        image: Set(fields.image.clone()),
        commit_ref: Set(fields.commit_ref.clone()),
        parameters: Set(json(serde_json::to_string(&fields.parameters))?),
        state: Set(d.state.as_str().to_owned()),
        namespace: Set(d.namespace.clone()),
        revision: Set(d.revision),
        current_version: Set(d.current_version),
        last_operation: Set(d.last_operation.clone()),
        running_job_count: Set(d.running_job_count),
        create_time: Set(d.create_time),
        update_time: Set(d.update_time),
    })
}

pub(super) fn deployment_from_row(row: deployment::Model) -> Result<Deployment, StoreError> {
    let bad = |what| corrupt("deployment", &row.name, what);
    Ok(Deployment {
        name: DeploymentName::parse("name", &row.name).map_err(|_| bad("name"))?,
        display_name: row.display_name.clone(),
        deployment_type: DeploymentType::parse(&row.deployment_type).ok_or_else(|| bad("type"))?,
        key_fields: KeyFields {
            repository: row.repository.clone(),
            branch: row.branch.clone(),
            image: row.image.clone(),
            commit_ref: row.commit_ref.clone(),
            clusters: serde_json::from_str(&row.clusters).map_err(|_| bad("clusters"))?,
            scope: row.scope.clone(),
            parameters: serde_json::from_str(&row.parameters).map_err(|_| bad("parameters"))?,
        },
        state: DeploymentState::parse(&row.state).ok_or_else(|| bad("state"))?,
        namespace: row.namespace.clone(),
        revision: row.revision,
        current_version: row.current_version,
        last_operation: row.last_operation.clone(),
        running_job_count: row.running_job_count,
        create_time: row.create_time,
        update_time: row.update_time,
    })
}
