//! Deployments: created in draft with version 1 owed, updated with a field mask and an etag,
//! each key-field change writing its version record to the outbox in the same transaction.

use std::collections::HashSet;

use eyrie_platform::{db::begin_write, status::FieldViolation};
use eyrie_proto::v1 as pb;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use super::{
    ResourceStore, already_created, check_etag, existing, fetch_page, find_clusters, find_named,
    find_scope, insert_new, is_unique_violation, lock_named, now,
    requests::{Method, remember, replayed},
    rows::Stored as _,
};
use crate::{
    domain::{
        DeploymentError, StoreError,
        names::{DeploymentName, GroupName},
        resources::{
            Deployment, DeploymentField, DeploymentGroup, DeploymentQuery, DeploymentState,
            DeploymentUpdate, KeyFields, NewDeployment, RequestMeta, namespace_candidates,
            reference_violations,
        },
    },
    store::{
        entity::deployment,
        outbox::{VersionRecord, enqueue_version, next_version_number},
    },
};

impl ResourceStore {
    /// Creates a deployment in state draft at revision 1 and queues its version 1, in one
    /// transaction. Checks what needs the database, before writing anything: the group exists
    /// (`NotFound`), its type's limits on the id and required fields, and the scope and
    /// clusters exist (`Invalid`).
    pub async fn create_deployment(
        &self,
        new: &NewDeployment,
        meta: &RequestMeta,
    ) -> Result<Deployment, DeploymentError> {
        let name = new.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::CreateDeployment, meta, &name).await? {
            return existing(find_named(&txn, &name).await?, &name);
        }
        let group_name = GroupName::of(&new.name).to_string();
        let group: DeploymentGroup = existing(find_named(&txn, &group_name).await?, &group_name)?;
        let mut violations = new.type_violations(group.deployment_type);
        violations.extend(missing_references(&txn, &new.key_fields).await?);
        if !violations.is_empty() {
            return Err(DeploymentError::Invalid(violations));
        }
        let namespace = free_namespace(&txn, &new.name).await?;
        let mut deployment = Deployment::draft(new, group.deployment_type, namespace, now());
        // Version 1, numbered here so that the answer carries it (nothing of a new name waits).
        deployment.current_version = 1;
        match insert_new(&txn, deployment.to_row()?).await {
            Ok(true) => {}
            Ok(false) => {
                already_created::<Deployment>(&txn, Method::CreateDeployment, meta, &name).await?;
                return existing(find_named(&txn, &name).await?, &name);
            }
            // Another deployment took the namespace between our look and our insert.
            Err(err) if is_unique_violation(&err) => return Err(DeploymentError::Conflict(name)),
            Err(err) => return Err(err.into()),
        }
        let record = version_record(&deployment, &meta.actor, pb::VersionReason::Create, 0, 1);
        enqueue_version(&txn, &record).await?;
        remember(&txn, Method::CreateDeployment, meta, &name).await?;
        txn.commit().await?;
        Ok(deployment)
    }

    /// Up to `query.page.limit` deployments of `query`, by name.
    pub async fn list_deployments(
        &self,
        query: &DeploymentQuery,
    ) -> Result<Vec<Deployment>, StoreError> {
        fetch_page(
            &self.db,
            listed(query),
            deployment::Column::Name,
            &query.page,
        )
        .await
    }

    /// Applies `update` if the deployment is not dropped and the etag (when sent) is current.
    /// Any change bumps the revision; a key-field change also queues a version record, in the
    /// same transaction. A concurrent change between read and write is `Conflict`.
    pub async fn update_deployment(
        &self,
        update: &DeploymentUpdate,
        meta: &RequestMeta,
    ) -> Result<Deployment, DeploymentError> {
        let name = update.name.to_string();
        let txn = begin_write(&self.db).await?;
        if replayed(&txn, Method::UpdateDeployment, meta, &name).await? {
            return existing(find_named(&txn, &name).await?, &name);
        }
        let current = existing(find_deployment_for_update(&txn, &name).await?, &name)?;
        if current.is_dropped() {
            return Err(DeploymentError::FailedPrecondition {
                reason: "DEPLOYMENT_DROPPED",
                subject: name.clone(),
                message: format!("deployment {name} is dropped and can no longer be changed"),
            });
        }
        check_etag(&name, update.etag.as_deref(), current.revision)?;
        let mut next = update.apply(&current);
        let violations = update_violations(&txn, update, &next).await?;
        if !violations.is_empty() {
            return Err(DeploymentError::Invalid(violations));
        }
        let stored = if next == current {
            current
        } else {
            // A key-field change is a new version, numbered in this transaction.
            let version = if next.key_fields == current.key_fields {
                None
            } else {
                let number = next_version_number(&txn, &name, current.current_version).await?;
                if number > 0 {
                    next.current_version = number;
                }
                Some(number)
            };
            let stored = save_deployment(&txn, &next)
                .await?
                .ok_or_else(|| DeploymentError::Conflict(name.clone()))?;
            if let Some(number) = version {
                let reason = pb::VersionReason::Update;
                let record = version_record(&stored, &meta.actor, reason, 0, number);
                enqueue_version(&txn, &record).await?;
            }
            stored
        };
        remember(&txn, Method::UpdateDeployment, meta, &name).await?;
        txn.commit().await?;
        Ok(stored)
    }
}

/// What the masked fields of `next` break: their group type's requirements and references to
/// scopes or clusters that do not exist. Fields outside the mask are not judged again.
async fn update_violations(
    txn: &DatabaseTransaction,
    update: &DeploymentUpdate,
    next: &Deployment,
) -> Result<Vec<FieldViolation>, StoreError> {
    let masked: HashSet<String> = update.fields.iter().map(|f| f.path()).collect();
    let mut violations: Vec<_> = next
        .key_fields
        .type_violations(next.deployment_type)
        .into_iter()
        .filter(|v| masked.contains(&v.field))
        .collect();
    let touches = |field| update.fields.contains(&field);
    if touches(DeploymentField::Scope) || touches(DeploymentField::Clusters) {
        let missing = missing_references(txn, &next.key_fields).await?;
        violations.extend(missing.into_iter().filter(|v| {
            let is_scope = v.field == DeploymentField::Scope.path();
            (is_scope && touches(DeploymentField::Scope))
                || (!is_scope && touches(DeploymentField::Clusters))
        }));
    }
    Ok(violations)
}

/// The scope and clusters named by `fields` that do not exist.
async fn missing_references(
    conn: &impl ConnectionTrait,
    fields: &KeyFields,
) -> Result<Vec<FieldViolation>, StoreError> {
    let scope_exists = find_scope(conn, &fields.scope).await?.is_some();
    let clusters: HashSet<String> = find_clusters(conn, &fields.clusters)
        .await?
        .into_iter()
        .map(|cluster| cluster.name.to_string())
        .collect();
    Ok(reference_violations(fields, scope_exists, &clusters))
}

/// The first namespace candidate of `name` no deployment holds (the last one when all are
/// held: the insert then fails on the unique index, as it must).
async fn free_namespace(
    conn: &impl ConnectionTrait,
    name: &DeploymentName,
) -> Result<String, StoreError> {
    let candidates = namespace_candidates(name);
    let taken: HashSet<String> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Namespace)
        .filter(deployment::Column::Namespace.is_in(candidates.iter().cloned()))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let fallback = candidates.last().cloned().unwrap_or_default();
    Ok(candidates
        .into_iter()
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(fallback))
}

/// The state of each of `names` that exists, in one query (the reconciler's pass over every
/// running operation).
pub async fn deployment_states(
    conn: &impl ConnectionTrait,
    names: &[String],
) -> Result<std::collections::HashMap<String, DeploymentState>, StoreError> {
    let rows: Vec<(String, String)> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Name)
        .column(deployment::Column::State)
        .filter(deployment::Column::Name.is_in(names.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|(name, state)| {
            let parsed = DeploymentState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("deployment {name}: state")));
            parsed.map(|state| (name, state))
        })
        .collect()
}

/// The deployment named `name` (a resource name), if any.
pub async fn find_deployment(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Deployment>, StoreError> {
    find_named(conn, name).await
}

/// The deployments `query` lists, before paging.
fn listed(query: &DeploymentQuery) -> sea_orm::Select<deployment::Entity> {
    let mut select = deployment::Entity::find()
        .filter(deployment::Column::DeploymentGroup.eq(query.group.to_string()));
    if let Some(state) = query.state {
        select = select.filter(deployment::Column::State.eq(state.as_str()));
    }
    if !query.includes_dropped() {
        select = select.filter(deployment::Column::State.ne(DeploymentState::Dropped.as_str()));
    }
    if let Some(scope) = &query.scope {
        select = select.filter(deployment::Column::Scope.eq(scope.clone()));
    }
    select
}

/// The statement of one page of `query`, for the tests that read its plan.
#[cfg(test)]
pub(crate) fn list_statement(
    query: &DeploymentQuery,
    backend: sea_orm::DbBackend,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait as _;
    super::page_of(listed(query), deployment::Column::Name, &query.page).build(backend)
}

/// The namespaces of the deployments of `project` (a resource name) that are not dropped,
/// except `deployment`'s own, in order: where a job of `deployment` may read.
pub async fn project_namespaces(
    conn: &impl ConnectionTrait,
    project: &str,
    deployment: &DeploymentName,
) -> Result<Vec<String>, StoreError> {
    // One lookup of deployments_project_idx, in the index's order.
    Ok(deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Namespace)
        .filter(deployment::Column::Project.eq(project))
        .filter(deployment::Column::State.ne(DeploymentState::Dropped.as_str()))
        .filter(deployment::Column::Name.ne(deployment.to_string()))
        .order_by_asc(deployment::Column::Namespace)
        .into_tuple::<String>()
        .all(conn)
        .await?)
}

/// The deployment named `name`, its row locked until `txn` ends (`SELECT … FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already excludes other writers).
pub async fn find_deployment_for_update(
    txn: &DatabaseTransaction,
    name: &str,
) -> Result<Option<Deployment>, StoreError> {
    lock_named(txn, name).await
}

/// Writes every stored field of `next` if the row is still at `next.revision` (the revision it
/// was read at), as revision `next.revision + 1` with `update_time` now. Returns the deployment
/// as stored, or `None` when a concurrent change won (nothing written).
pub async fn save_deployment(
    conn: &impl ConnectionTrait,
    next: &Deployment,
) -> Result<Option<Deployment>, StoreError> {
    let stored = Deployment {
        revision: next.revision + 1,
        update_time: now(),
        ..next.clone()
    };
    let written = deployment::Entity::update_many()
        .set(stored.to_row()?)
        .filter(deployment::Column::Name.eq(next.name.to_string()))
        .filter(deployment::Column::Revision.eq(next.revision))
        .exec(conn)
        .await?;
    Ok((written.rows_affected == 1).then_some(stored))
}

/// The version record owed for `deployment` as it now is (its revision, key fields and update
/// time), made by `actor` for `reason`.
pub fn version_record(
    deployment: &Deployment,
    actor: &str,
    reason: pb::VersionReason,
    rollback_to_version: i64,
    number: i64,
) -> VersionRecord {
    VersionRecord {
        number,
        deployment: deployment.name.to_string(),
        revision: deployment.revision,
        key_fields: pb::KeyFields::from(&deployment.key_fields),
        actor: actor.to_owned(),
        reason,
        rollback_to_version,
        time: deployment.update_time,
    }
}
