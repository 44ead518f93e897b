//! Rows to domain values and back. A row that does not read back is `StoreError::Corrupt`.

use sea_orm::{ActiveValue::Set, EntityTrait, PrimaryKeyTrait};

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

/// A resource kept as one row of its own table, under its resource name (the primary key): what
/// the reads and writes every resource shares need to know of it.
pub(super) trait Stored: Sized {
    /// Its table.
    type Entity: EntityTrait<ActiveModel: Send, PrimaryKey: PrimaryKeyTrait<ValueType = String>>;
    /// What `NOT_FOUND`, `ALREADY_EXISTS` and a corrupt row call it.
    const KIND: &'static str;
    /// The resource a row holds; `StoreError::Corrupt` when the row does not read back.
    fn from_row(row: <Self::Entity as EntityTrait>::Model) -> Result<Self, StoreError>;
    /// The row that stores the resource.
    fn to_row(&self) -> Result<<Self::Entity as EntityTrait>::ActiveModel, StoreError>;
}

fn corrupt(table: &str, name: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{table} {name}: {what}"))
}

impl Stored for Project {
    type Entity = project::Entity;
    const KIND: &'static str = "project";

    fn to_row(&self) -> Result<project::ActiveModel, StoreError> {
        Ok(project::ActiveModel {
            name: Set(self.name.to_string()),
            slug: Set(self.name.project.clone()),
            display_name: Set(self.display_name.clone()),
            create_time: Set(self.create_time),
            boundary_namespaces: Set(json_list(&self.boundary.namespaces)),
            boundary_cluster_kinds: Set(json_list(&self.boundary.cluster_kinds)),
            boundary_hosts: Set(json_list(&self.boundary.hosts)),
            revision: Set(self.revision),
        })
    }

    fn from_row(row: project::Model) -> Result<Self, StoreError> {
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
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serialises")
}

impl Stored for Scope {
    type Entity = scope::Entity;
    const KIND: &'static str = "scope";

    fn to_row(&self) -> Result<scope::ActiveModel, StoreError> {
        Ok(scope::ActiveModel {
            name: Set(self.name.to_string()),
            project: Set(self.name.parent().to_string()),
            slug: Set(self.name.scope.clone()),
            display_name: Set(self.display_name.clone()),
            allow_drop: Set(self.allow_drop),
            create_time: Set(self.create_time),
        })
    }

    fn from_row(row: scope::Model) -> Result<Self, StoreError> {
        Ok(Scope {
            name: ScopeName::parse("name", &row.name)
                .map_err(|_| corrupt("scope", &row.name, "name"))?,
            display_name: row.display_name,
            allow_drop: row.allow_drop,
            create_time: row.create_time,
        })
    }
}

impl Stored for Cluster {
    type Entity = cluster::Entity;
    const KIND: &'static str = "cluster";

    fn to_row(&self) -> Result<cluster::ActiveModel, StoreError> {
        let (kubeconfig_path, context, in_cluster, directory_path, simulated) =
            match &self.connection {
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
        Ok(cluster::ActiveModel {
            name: Set(self.name.to_string()),
            project: Set(self.name.parent().to_string()),
            slug: Set(self.name.cluster.clone()),
            display_name: Set(self.display_name.clone()),
            driver: Set(self.connection.driver().to_owned()),
            kubeconfig_path: Set(kubeconfig_path),
            kube_context: Set(context),
            in_cluster: Set(in_cluster),
            directory_path: Set(directory_path),
            simulated: Set(simulated),
            create_time: Set(self.create_time),
        })
    }

    fn from_row(row: cluster::Model) -> Result<Self, StoreError> {
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
}

impl Stored for DeploymentGroup {
    type Entity = deployment_group::Entity;
    const KIND: &'static str = "deployment group";

    fn to_row(&self) -> Result<deployment_group::ActiveModel, StoreError> {
        Ok(deployment_group::ActiveModel {
            name: Set(self.name.to_string()),
            project: Set(self.name.parent().to_string()),
            slug: Set(self.name.group.clone()),
            display_name: Set(self.display_name.clone()),
            deployment_type: Set(self.deployment_type.as_str().to_owned()),
            initialize_book: Set(self.books.initialize.clone()),
            deploy_book: Set(self.books.deploy.clone()),
            pause_book: Set(self.books.pause.clone()),
            drop_book: Set(self.books.drop.clone()),
            revision: Set(self.revision),
            create_time: Set(self.create_time),
            update_time: Set(self.update_time),
        })
    }

    fn from_row(row: deployment_group::Model) -> Result<Self, StoreError> {
        let bad = |what| corrupt("deployment group", &row.name, what);
        Ok(DeploymentGroup {
            name: GroupName::parse("name", &row.name).map_err(|_| bad("name"))?,
            display_name: row.display_name.clone(),
            deployment_type: DeploymentType::parse(&row.deployment_type)
                .ok_or_else(|| bad("type"))?,
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
}

impl Stored for Deployment {
    type Entity = deployment::Entity;
    const KIND: &'static str = "deployment";

    fn to_row(&self) -> Result<deployment::ActiveModel, StoreError> {
        let json = |value: serde_json::Result<String>| {
            value.map_err(|err| corrupt("deployment", &self.name.to_string(), &err.to_string()))
        };
        let fields = &self.key_fields;
        Ok(deployment::ActiveModel {
            name: Set(self.name.to_string()),
            project: Set(format!("projects/{}", self.name.project)),
            deployment_group: Set(self.group().to_string()),
            slug: Set(self.name.deployment.clone()),
            display_name: Set(self.display_name.clone()),
            deployment_type: Set(self.deployment_type.as_str().to_owned()),
            scope: Set(fields.scope.clone()),
            clusters: Set(json(serde_json::to_string(&fields.clusters))?),
            repository: Set(fields.repository.clone()),
            branch: Set(fields.branch.clone()),
            image: Set(fields.image.clone()),
            commit_ref: Set(fields.commit_ref.clone()),
            parameters: Set(json(serde_json::to_string(&fields.parameters))?),
            state: Set(self.state.as_str().to_owned()),
            namespace: Set(self.namespace.clone()),
            revision: Set(self.revision),
            current_version: Set(self.current_version),
            last_operation: Set(self.last_operation.clone()),
            running_job_count: Set(self.running_job_count),
            create_time: Set(self.create_time),
            update_time: Set(self.update_time),
        })
    }

    fn from_row(row: deployment::Model) -> Result<Self, StoreError> {
        let bad = |what| corrupt("deployment", &row.name, what);
        Ok(Deployment {
            name: DeploymentName::parse("name", &row.name).map_err(|_| bad("name"))?,
            display_name: row.display_name.clone(),
            deployment_type: DeploymentType::parse(&row.deployment_type)
                .ok_or_else(|| bad("type"))?,
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
}
