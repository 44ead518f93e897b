//! [`VersionStore`] on sea-orm, for SQLite and PostgreSQL.

use eyrie_platform::names::DeploymentName;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, TransactionTrait as _,
};

use super::{
    VersionStore,
    entity::{version, version_head},
};
use crate::domain::{
    Decision, Head, KeyFields, NewVersion, Reason, Recorded, StoreError, Version, decide,
};

/// Versions in version-svc's own database.
#[derive(Debug, Clone)]
pub struct SeaVersionStore {
    db: DatabaseConnection,
}

impl SeaVersionStore {
    /// Uses `db`, whose migrations have been applied.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn record_in(
        txn: &DatabaseTransaction,
        new: &NewVersion,
    ) -> Result<Recorded, StoreError> {
        let deployment = new.deployment.to_string();

        // Writing first takes the deployment's head row (and, on SQLite, the database write lock)
        // before anything is read: concurrent calls for one deployment queue here.
        version_head::Entity::insert(version_head::ActiveModel {
            deployment: Set(deployment.clone()),
            latest_number: Set(0),
            latest_revision: Set(0),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
        let head = version_head::Entity::find_by_id(deployment.clone())
            .lock_exclusive()
            .one(txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no head row for {deployment}")))?;

        // A retry of a revision already recorded gets its version back.
        let existing = version::Entity::find()
            .filter(version::Column::Deployment.eq(deployment.clone()))
            .filter(version::Column::Revision.eq(new.revision))
            .one(txn)
            .await?;
        if let Some(existing) = existing {
            return Ok(Recorded {
                version: to_domain(existing)?,
                created: false,
            });
        }

        let latest = match head.latest_number {
            0 => None,
            number => Some(
                version::Entity::find_by_id((deployment.clone(), number))
                    .one(txn)
                    .await?
                    .map(to_domain)
                    .transpose()?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("{deployment} lost version {number}"))
                    })?,
            ),
        };
        let head_state = Head {
            latest_number: head.latest_number,
            latest_revision: head.latest_revision,
        };

        match decide(head_state, latest.as_ref().map(|v| &v.key_fields), new) {
            Decision::Stale => Ok(Recorded {
                version: latest.ok_or_else(|| {
                    StoreError::Corrupt(format!("{deployment}: revisions without version"))
                })?,
                created: false,
            }),
            Decision::Unchanged => {
                update_head(txn, &deployment, head.latest_number, new.revision).await?;
                Ok(Recorded {
                    version: latest.ok_or_else(|| {
                        StoreError::Corrupt(format!("{deployment}: unchanged without version"))
                    })?,
                    created: false,
                })
            }
            Decision::Create {
                number,
                changed_fields,
            } => {
                let version = Version {
                    deployment: new.deployment.clone(),
                    number,
                    revision: new.revision,
                    key_fields: new.key_fields.clone(),
                    changed_fields,
                    actor: new.actor.clone(),
                    reason: new.reason,
                    created_at: new.changed_at,
                };
                version::Entity::insert(to_row(&version)?)
                    .exec_without_returning(txn)
                    .await?;
                update_head(txn, &deployment, number, new.revision).await?;
                Ok(Recorded {
                    version,
                    created: true,
                })
            }
        }
    }
}

async fn update_head(
    txn: &DatabaseTransaction,
    deployment: &str,
    latest_number: i64,
    latest_revision: i64,
) -> Result<(), DbErr> {
    version_head::Entity::update(version_head::ActiveModel {
        deployment: Set(deployment.to_owned()),
        latest_number: Set(latest_number),
        latest_revision: Set(latest_revision),
    })
    .exec(txn)
    .await?;
    Ok(())
}

impl VersionStore for SeaVersionStore {
    async fn record(&self, new: &NewVersion) -> Result<Recorded, StoreError> {
        let txn = self.db.begin().await?;
        let recorded = Self::record_in(&txn, new).await?;
        txn.commit().await?;
        Ok(recorded)
    }

    async fn get(
        &self,
        deployment: &DeploymentName,
        number: i64,
    ) -> Result<Option<Version>, StoreError> {
        version::Entity::find_by_id((deployment.to_string(), number))
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    async fn list(
        &self,
        deployment: &DeploymentName,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Version>, StoreError> {
        let mut query =
            version::Entity::find().filter(version::Column::Deployment.eq(deployment.to_string()));
        if let Some(before) = before {
            query = query.filter(version::Column::Number.lt(before));
        }
        query
            .order_by_desc(version::Column::Number)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}

fn to_row(version: &Version) -> Result<version::ActiveModel, StoreError> {
    let json = |value: serde_json::Result<String>| {
        value.map_err(|err| StoreError::Corrupt(err.to_string()))
    };
    Ok(version::ActiveModel {
        deployment: Set(version.deployment.to_string()),
        number: Set(version.number),
        revision: Set(version.revision),
        key_fields: Set(json(serde_json::to_string(&version.key_fields))?),
        changed_fields: Set(json(serde_json::to_string(&version.changed_fields))?),
        actor: Set(version.actor.clone()),
        reason: Set(version.reason.as_str().to_owned()),
        rollback_to_version: Set(version.reason.rollback_to_version()),
        created_at: Set(version.created_at),
    })
}

fn to_domain(row: version::Model) -> Result<Version, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!("{} version {}: {what}", row.deployment, row.number))
    };
    let key_fields: KeyFields =
        serde_json::from_str(&row.key_fields).map_err(|_| corrupt("key_fields"))?;
    let changed_fields: Vec<String> =
        serde_json::from_str(&row.changed_fields).map_err(|_| corrupt("changed_fields"))?;
    let reason = Reason::from_stored(&row.reason, row.rollback_to_version)
        .ok_or_else(|| corrupt("reason"))?;
    let deployment =
        DeploymentName::parse("deployment", &row.deployment).map_err(|_| corrupt("deployment"))?;
    Ok(Version {
        deployment,
        number: row.number,
        revision: row.revision,
        key_fields,
        changed_fields,
        actor: row.actor,
        reason,
        created_at: row.created_at,
    })
}
