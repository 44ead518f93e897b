//! Projects, scopes and clusters. Scopes and clusters never change; a project's display name
//! and boundary change through UpdateProject.

use std::collections::HashMap;

use eyrie_platform::db::begin_write;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::{
    ResourceStore, check_etag, existing, fetch_page, find_named, lock_named, now, requests::Method,
    rows::Stored as _,
};
use crate::{
    domain::{
        DeploymentError, StoreError,
        names::ProjectName,
        resources::{
            Cluster, NewCluster, NewProject, NewScope, PageRequest, Project, ProjectUpdate,
            RequestMeta, Scope,
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
        self.create(Method::CreateProject, meta, &new.name, None, || Project {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            create_time: now(),
            boundary: new.boundary.clone(),
            revision: 1,
        })
        .await
    }

    /// Applies `update` to a project; with an etag, only if it is still the current one.
    pub async fn update_project(&self, update: &ProjectUpdate) -> Result<Project, DeploymentError> {
        let name = update.name.to_string();
        let txn = begin_write(&self.db).await?;
        let current: Project = existing(lock_named(&txn, &name).await?, &name)?;
        check_etag(&name, update.etag.as_deref(), current.revision)?;
        let next = update.apply(&current);
        if next == current {
            return Ok(current);
        }
        let stored = Project {
            revision: current.revision + 1,
            ..next
        };
        let written = project::Entity::update_many()
            .set(stored.to_row()?)
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
        fetch_page(&self.db, select, project::Column::Name, page).await
    }

    /// Creates a scope in an existing project.
    pub async fn create_scope(
        &self,
        new: &NewScope,
        meta: &RequestMeta,
    ) -> Result<Scope, DeploymentError> {
        let parent = Some(new.name.parent());
        self.create(Method::CreateScope, meta, &new.name, parent, || Scope {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            allow_drop: new.allow_drop,
            create_time: now(),
        })
        .await
    }

    /// Up to `page.limit` scopes of `project` after `page.after`, by name.
    pub async fn list_scopes(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<Scope>, StoreError> {
        let select = scope::Entity::find().filter(scope::Column::Project.eq(project.to_string()));
        fetch_page(&self.db, select, scope::Column::Name, page).await
    }

    /// Creates a cluster in an existing project.
    pub async fn create_cluster(
        &self,
        new: &NewCluster,
        meta: &RequestMeta,
    ) -> Result<Cluster, DeploymentError> {
        let parent = Some(new.name.parent());
        self.create(Method::CreateCluster, meta, &new.name, parent, || Cluster {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            connection: new.connection.clone(),
            create_time: now(),
        })
        .await
    }

    /// Up to `page.limit` clusters of `project` after `page.after`, by name.
    pub async fn list_clusters(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<Cluster>, StoreError> {
        let select =
            cluster::Entity::find().filter(cluster::Column::Project.eq(project.to_string()));
        fetch_page(&self.db, select, cluster::Column::Name, page).await
    }
}

/// The project named `name` (a resource name), if any.
pub async fn find_project(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Project>, StoreError> {
    find_named(conn, name).await
}

/// The scope named `name` (a resource name), if any.
pub async fn find_scope(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Scope>, StoreError> {
    find_named(conn, name).await
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
        .map(Cluster::from_row)
        .collect()
}
