//! Deployment groups: created in a project, then updated with a field mask and an etag.

use eyrie_platform::db::begin_write;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, QueryFilter as _,
    QuerySelect as _,
};

use super::{
    ResourceStore, fetch_page, insert_new, now,
    projects::{already_created, require_project},
    requests::{Method, remember, replayed},
    rows,
};
use crate::{
    domain::{
        DeploymentError, StoreError,
        names::ProjectName,
        resources::{
            DeploymentGroup, GroupUpdate, NewGroup, PageRequest, RequestMeta, etag_matches,
        },
    },
    store::entity::deployment_group,
};

impl ResourceStore {
    /// Creates a group (revision 1) in an existing project.
    pub async fn create_group(
        &self,
        new: &NewGroup,
        meta: &RequestMeta,
    ) -> Result<DeploymentGroup, DeploymentError> {
        let name = new.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::CreateDeploymentGroup, meta, &name).await? {
            return first_group(&txn, &name).await;
        }
        require_project(&txn, &new.name.parent()).await?;
        let now = now();
        let group = DeploymentGroup {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            deployment_type: new.deployment_type,
            books: new.books.clone(),
            revision: 1,
            create_time: now,
            update_time: now,
        };
        if !insert_new(&txn, rows::group_row(&group)).await? {
            let method = Method::CreateDeploymentGroup;
            already_created(&txn, method, meta, "deployment group", &name).await?;
            return first_group(&txn, &name).await;
        }
        remember(&txn, Method::CreateDeploymentGroup, meta, &name).await?;
        txn.commit().await?;
        Ok(group)
    }

    /// Up to `page.limit` groups of `project` after `page.after`, by name.
    pub async fn list_groups(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentGroup>, StoreError> {
        let select = deployment_group::Entity::find()
            .filter(deployment_group::Column::Project.eq(project.to_string()));
        let name = deployment_group::Column::Name;
        fetch_page(&self.db, select, name, page, rows::group_from_row).await
    }

    /// Applies `update` if the etag (when sent) is current, bumping the revision when anything
    /// changes. A concurrent update between read and write is `Conflict`.
    pub async fn update_group(
        &self,
        update: &GroupUpdate,
        meta: &RequestMeta,
    ) -> Result<DeploymentGroup, DeploymentError> {
        let name = update.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::UpdateDeploymentGroup, meta, &name).await? {
            return first_group(&txn, &name).await;
        }
        // Locking the row makes concurrent updates queue here on PostgreSQL rather than lose
        // their compare-and-set below.
        let current = deployment_group::Entity::find_by_id(name.clone())
            .lock_exclusive()
            .one(&txn)
            .await?
            .map(rows::group_from_row)
            .transpose()?
            .ok_or_else(|| DeploymentError::not_found("deployment group", name.clone()))?;
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
        let stored = if next == current {
            current
        } else {
            let stored = DeploymentGroup {
                revision: current.revision + 1,
                update_time: now(),
                ..next
            };
            let written = deployment_group::Entity::update_many()
                .set(rows::group_row(&stored))
                .filter(deployment_group::Column::Name.eq(name.clone()))
                .filter(deployment_group::Column::Revision.eq(current.revision))
                .exec(&txn)
                .await?;
            if written.rows_affected != 1 {
                return Err(DeploymentError::Conflict(name));
            }
            stored
        };
        remember(&txn, Method::UpdateDeploymentGroup, meta, &name).await?;
        txn.commit().await?;
        Ok(stored)
    }
}

async fn first_group(
    txn: &DatabaseTransaction,
    name: &str,
) -> Result<DeploymentGroup, DeploymentError> {
    find_group(txn, name)
        .await?
        .ok_or_else(|| DeploymentError::not_found("deployment group", name))
}

/// The group named `name` (a resource name), if any.
pub async fn find_group(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<DeploymentGroup>, StoreError> {
    deployment_group::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map(rows::group_from_row)
        .transpose()
}
