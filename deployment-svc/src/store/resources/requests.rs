//! Request ids: a retried create or update finds what its first call did.

use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait as _};

use super::{insert_new, now};
use crate::{
    domain::{DeploymentError, resources::RequestMeta},
    store::entity::request_id,
};

/// The RPCs whose request ids are kept; an id is only ever compared with ids of the same RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `CreateProject`.
    CreateProject,
    /// `CreateScope`.
    CreateScope,
    /// `CreateCluster`.
    CreateCluster,
    /// `CreateDeploymentGroup`.
    CreateDeploymentGroup,
    /// `UpdateDeploymentGroup`.
    UpdateDeploymentGroup,
    /// `CreateDeployment`.
    CreateDeployment,
    /// `UpdateDeployment`.
    UpdateDeployment,
}

impl Method {
    /// The RPC's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateProject => "CreateProject",
            Self::CreateScope => "CreateScope",
            Self::CreateCluster => "CreateCluster",
            Self::CreateDeploymentGroup => "CreateDeploymentGroup",
            Self::UpdateDeploymentGroup => "UpdateDeploymentGroup",
            Self::CreateDeployment => "CreateDeployment",
            Self::UpdateDeployment => "UpdateDeployment",
        }
    }
}

/// The parent a request id acting on `resource` is scoped to: the collection's owner (the
/// project of a scope, the group of a deployment; empty for a project, which only global admins
/// create). Ids of different parents never meet, so a tenant's id neither collides with nor
/// reveals another tenant's resource.
fn parent_of(resource: &str) -> &str {
    resource.rsplitn(3, '/').nth(2).unwrap_or_default()
}

/// Whether `meta`'s request id was already used by a call of `method` on `resource`: then the
/// caller returns the resource as it is and does nothing again. An id first used for another
/// resource under the same parent is refused rather than silently answered with the wrong
/// resource; ids under other parents are not looked at.
pub(super) async fn replayed(
    txn: &DatabaseTransaction,
    method: Method,
    meta: &RequestMeta,
    resource: &str,
) -> Result<bool, DeploymentError> {
    let Some(request_id) = &meta.request_id else {
        return Ok(false);
    };
    let key = (
        method.as_str().to_owned(),
        parent_of(resource).to_owned(),
        request_id.clone(),
    );
    let first = request_id::Entity::find_by_id(key).one(txn).await?;
    match first {
        None => Ok(false),
        Some(first) if first.resource == resource => Ok(true),
        Some(first) => Err(DeploymentError::invalid(
            eyrie_platform::status::FieldViolation::new(
                "request_id",
                format!(
                    "was already used by a {} call on {}; use a new id for a new request",
                    method.as_str(),
                    first.resource
                ),
            ),
        )),
    }
}

/// Records that `meta`'s request id (if any) did its work on `resource`.
pub(super) async fn remember(
    txn: &DatabaseTransaction,
    method: Method,
    meta: &RequestMeta,
    resource: &str,
) -> Result<(), DeploymentError> {
    let Some(request_id) = &meta.request_id else {
        return Ok(());
    };
    let row = request_id::ActiveModel {
        method: Set(method.as_str().to_owned()),
        parent: Set(parent_of(resource).to_owned()),
        request_id: Set(request_id.clone()),
        resource: Set(resource.to_owned()),
        create_time: Set(now()),
    };
    insert_new(txn, row).await?;
    Ok(())
}
