//! Deployment groups: created in a project, then updated with a field mask and an etag.

use eyrie_platform::db::begin_write;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::{
    ResourceStore, check_etag, existing, fetch_page, find_named, lock_named, now,
    requests::{Method, remember, replayed},
    rows::Stored as _,
};
use crate::{
    domain::{
        DeploymentError, StoreError,
        names::ProjectName,
        resources::{DeploymentGroup, GroupUpdate, NewGroup, PageRequest, RequestMeta},
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
        let make = || {
            let now = now();
            DeploymentGroup {
                name: new.name.clone(),
                display_name: new.display_name.clone(),
                deployment_type: new.deployment_type,
                books: new.books.clone(),
                revision: 1,
                create_time: now,
                update_time: now,
            }
        };
        let method = Method::CreateDeploymentGroup;
        let parent = Some(new.name.parent());
        self.create(method, meta, &new.name, parent, make).await
    }

    /// Up to `page.limit` groups of `project` after `page.after`, by name.
    pub async fn list_groups(
        &self,
        project: &ProjectName,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentGroup>, StoreError> {
        let select = deployment_group::Entity::find()
            .filter(deployment_group::Column::Project.eq(project.to_string()));
        fetch_page(&self.db, select, deployment_group::Column::Name, page).await
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
            return existing(find_named(&txn, &name).await?, &name);
        }
        let current: DeploymentGroup = existing(lock_named(&txn, &name).await?, &name)?;
        check_etag(&name, update.etag.as_deref(), current.revision)?;
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
                .set(stored.to_row()?)
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

/// The group named `name` (a resource name), if any.
pub async fn find_group(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<DeploymentGroup>, StoreError> {
    find_named(conn, name).await
}
