//! Projects, scopes and clusters. Scopes and clusters never change; a project's display name
//! and boundary change through UpdateProject.

use std::collections::HashMap;

use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, QueryFilter as _,
    QuerySelect as _,
};

use super::{
    ResourceStore, fetch_page, insert_new, now,
    requests::{Method, remember, replayed},
    rows,
};
use crate::{
    domain::{
        DeploymentError, StoreError,
        names::ProjectName,
        resources::{
            Cluster, NewCluster, NewProject, NewScope, PageRequest, Project, ProjectUpdate,
            RequestMeta, Scope, etag_matches,
        },
    },
    store::entity::{cluster, project, scope},
};

impl ResourceStore {
    /// Creates a project; a retried request id returns the project it created.
    pub async fn create_project(
        &self,
        new: &NewProject,
        meta: &RequestMeta,
    ) -> Result<Project, DeploymentError> {
        let name = new.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::CreateProject, meta, &name).await? {
            return first_project(&txn, &name).await;
        }
        let project = Project {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            create_time: now(),
            boundary: new.boundary.clone(),
            revision: 1,
        };
        if !insert_new(&txn, rows::project_row(&project)).await? {
            already_created(&txn, Method::CreateProject, meta, "project", &name).await?;
            return first_project(&txn, &name).await;
        }
        remember(&txn, Method::CreateProject, meta, &name).await?;
        txn.commit().await?;
        Ok(project)
    }

    /// Applies `update` to a project; with an etag, only if it is still the current one.
    pub async fn update_project(&self, update: &ProjectUpdate) -> Result<Project, DeploymentError> {
        let name = update.name.to_string();
        let txn = begin_write(&self.db).await?;
        // Locking the row makes concurrent updates queue here on PostgreSQL rather than lose
        // their compare-and-set below.
        let current = project::Entity::find_by_id(name.clone())
            .lock_exclusive()
            .one(&txn)
            .await?
            .map(rows::project_from_row)
            .transpose()?
            .ok_or_else(|| DeploymentError::not_found("project", name.clone()))?;
        if let Some(etag) = &update.etag
            && !etag_matches(etag, current.revision)
        {
            return Err(DeploymentError::EtagMismatch {
                name,
                expected: etag.clone(),
                actual: current.etag(),
            });
        }
        let next = update.apply(&current);
        if next == current {
            return Ok(current);
        }
        let stored = Project {
            revision: current.revision + 1,
            ..next
        };
        let written = project::Entity::update_many()
            .set(rows::project_row(&stored))
            .filter(project::Column::Name.eq(name.clone()))
            .filter(project::Column::Revision.eq(current.revision))
            .exec(&txn)
            .await?;
        if written.rows_affected != 1 {
            return Err(DeploymentError::Conflict(name));
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// Up to `page.limit` projects after `page.after`, by name.
    pub async fn list_projects(&self, page: &PageRequest) -> Result<Vec<Project>, StoreError> {
        let select = project::Entity::find();
        fetch_page(
            &self.db,
            select,
            project::Column::Name,
            page,
            rows::project_from_row,
        )
        .await
    }

    /// Creates a scope in an existing project.
    pub async fn create_scope(
        &self,
        new: &NewScope,
        meta: &RequestMeta,
    ) -> Result<Scope, DeploymentError> {
        let name = new.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::CreateScope, meta, &name).await? {
            return first_scope(&txn, &name).await;
        }
        require_project(&txn, &new.name.parent()).await?;
        let scope = Scope {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            allow_drop: new.allow_drop,
            create_time: now(),
        };
        if !insert_new(&txn, rows::scope_row(&scope)).await? {
            already_created(&txn, Method::CreateScope, meta, "scope", &name).await?;
            return first_scope(&txn, &name).await;
        }
        remember(&txn, Method::CreateScope, meta, &name).await?;
        txn.commit().await?;
        Ok(scope)
    }

    /// Up to `page.limit` scopes of `project` after `page.after`, by name.
    pub async fn list_scopes(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<Scope>, StoreError> {
        let select = scope::Entity::find().filter(scope::Column::Project.eq(project.to_string()));
        fetch_page(
            &self.db,
            select,
            scope::Column::Name,
            page,
            rows::scope_from_row,
        )
        .await
    }

    /// Creates a cluster in an existing project.
    pub async fn create_cluster(
        &self,
        new: &NewCluster,
        meta: &RequestMeta,
    ) -> Result<Cluster, DeploymentError> {
        let name = new.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::CreateCluster, meta, &name).await? {
            return first_cluster(&txn, &name).await;
        }
        require_project(&txn, &new.name.parent()).await?;
        let cluster = Cluster {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            connection: new.connection.clone(),
            create_time: now(),
        };
        if !insert_new(&txn, rows::cluster_row(&cluster)).await? {
            already_created(&txn, Method::CreateCluster, meta, "cluster", &name).await?;
            return first_cluster(&txn, &name).await;
        }
        remember(&txn, Method::CreateCluster, meta, &name).await?;
        txn.commit().await?;
        Ok(cluster)
    }

    /// Up to `page.limit` clusters of `project` after `page.after`, by name.
    pub async fn list_clusters(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<Cluster>, StoreError> {
        let select =
            cluster::Entity::find().filter(cluster::Column::Project.eq(project.to_string()));
        fetch_page(
            &self.db,
            select,
            cluster::Column::Name,
            page,
            rows::cluster_from_row,
        )
        .await
    }
}

async fn first_project(txn: &DatabaseTransaction, name: &str) -> Result<Project, DeploymentError> {
    find_project(txn, name)
        .await?
        .ok_or_else(|| DeploymentError::not_found("project", name))
}

async fn first_scope(txn: &DatabaseTransaction, name: &str) -> Result<Scope, DeploymentError> {
    find_scope(txn, name)
        .await?
        .ok_or_else(|| DeploymentError::not_found("scope", name))
}

async fn first_cluster(txn: &DatabaseTransaction, name: &str) -> Result<Cluster, DeploymentError> {
    find_clusters(txn, &[name.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| DeploymentError::not_found("cluster", name))
}

/// After an insert found the name taken: `Ok` when the row is the work of an earlier call with
/// the same request id (a retry racing its first call), `ALREADY_EXISTS` otherwise.
pub(super) async fn already_created(
    txn: &DatabaseTransaction,
    method: Method,
    meta: &RequestMeta,
    kind: &'static str,
    name: &str,
) -> Result<(), DeploymentError> {
    if replayed(txn, method, meta, name).await? {
        Ok(())
    } else {
        Err(DeploymentError::already_exists(kind, name))
    }
}

/// `NOT_FOUND` unless `project` exists.
pub(super) async fn require_project(
    conn: &impl ConnectionTrait,
    project: &ProjectName,
) -> Result<(), DeploymentError> {
    let name = project.to_string();
    match find_project(conn, &name).await? {
        Some(_) => Ok(()),
        None => Err(DeploymentError::not_found("project", name)),
    }
}

/// The project named `name` (a resource name), if any.
pub async fn find_project(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Project>, StoreError> {
    project::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map(rows::project_from_row)
        .transpose()
}

/// The scope named `name` (a resource name), if any.
pub async fn find_scope(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Scope>, StoreError> {
    scope::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map(rows::scope_from_row)
        .transpose()
}

/// The clusters named in `names` that exist, in the order of `names` (duplicates once).
pub async fn find_clusters(
    conn: &impl ConnectionTrait,
    names: &[String],
) -> Result<Vec<Cluster>, StoreError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut found: HashMap<String, cluster::Model> = cluster::Entity::find()
        .filter(cluster::Column::Name.is_in(names.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.name.clone(), row))
        .collect();
    names
        .iter()
        .filter_map(|name| found.remove(name))
        .map(rows::cluster_from_row)
        .collect()
}
