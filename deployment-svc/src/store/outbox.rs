//! The version outbox: a deployment change and the version record it owes version-svc are
//! written in one transaction, so no key-field change goes unrecorded, even while version-svc
//! is down. The relay delivers the records later, in revision order per deployment.

use chrono::{DateTime, Utc};
use eyrie_proto::{internal::v1::RecordVersionRequest, v1 as pb};
use prost::Message as _;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, Value,
};

/// A version owed to version-svc.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    /// The deployment's resource name.
    pub deployment: String,
    /// Its revision after the change.
    pub revision: i64,
    /// Its key fields after the change.
    pub key_fields: pb::KeyFields,
    /// Who changed it.
    pub actor: String,
    /// Why.
    pub reason: pb::VersionReason,
    /// For a rollback, the version restored; 0 otherwise.
    pub rollback_to_version: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// The version number given in the change's transaction; 0 leaves it to version-svc.
    pub number: i64,
}

impl VersionRecord {
    /// The request the relay sends.
    pub fn to_request(&self) -> RecordVersionRequest {
        RecordVersionRequest {
            deployment: self.deployment.clone(),
            revision: self.revision,
            key_fields: Some(self.key_fields.clone()),
            actor: self.actor.clone(),
            reason: self.reason.into(),
            rollback_to_version: self.rollback_to_version,
            time: Some(eyrie_platform::time::to_timestamp(self.time)),
            number: self.number,
        }
    }
}

/// Queues `record` in the caller's transaction.
pub async fn enqueue_version(
    txn: &DatabaseTransaction,
    record: &VersionRecord,
) -> Result<(), DbErr> {
    // The payload is the protobuf request, hex-encoded: exactly what the relay will send.
    let payload = hex::encode(record.to_request().encode_to_vec());
    let backend = txn.get_database_backend();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DbBackend::Postgres => {
                "INSERT INTO version_outbox (deployment, revision, payload, created_at, attempts, next_attempt_at, number) \
                 VALUES ($1, $2, $3, $4, 0, $4, $5)"
            }
            _ => {
                "INSERT INTO version_outbox (deployment, revision, payload, created_at, attempts, next_attempt_at, number) \
                 VALUES (?, ?, ?, ?, 0, ?, ?)"
            }
        },
        match backend {
            sea_orm::DbBackend::Postgres => vec![
                record.deployment.clone().into(),
                record.revision.into(),
                payload.into(),
                record.time.into(),
                record.number.into(),
            ],
            _ => vec![
                record.deployment.clone().into(),
                record.revision.into(),
                payload.into(),
                record.time.into(),
                record.time.into(),
                record.number.into(),
            ],
        },
    ))
    .await?;
    Ok(())
}

/// The number the next version of `deployment`, whose latest number is `current`, gets in the
/// caller's transaction: `current + 1`, or 0 (version-svc numbers it) while a record queued
/// before deployment-svc numbered versions waits, whose number is not known yet.
pub async fn next_version_number(
    txn: &DatabaseTransaction,
    deployment: &str,
    current: i64,
) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    let unnumbered = txn
        .query_one_raw(statement(
            backend,
            "SELECT 1 AS waiting FROM version_outbox WHERE deployment = ? AND number = 0 LIMIT 1",
            vec![deployment.into()],
        ))
        .await?;
    Ok(if unnumbered.is_some() { 0 } else { current + 1 })
}

/// A queued version record, claimed by the relay for one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingVersion {
    /// The outbox row.
    pub id: i64,
    /// The deployment's resource name.
    pub deployment: String,
    /// Its revision.
    pub revision: i64,
    /// Failed deliveries so far.
    pub attempts: i32,
    /// When it was queued (the change's time).
    pub queued_at: DateTime<Utc>,
    /// The hex-encoded RecordVersionRequest, as [`enqueue_version`] wrote it.
    payload: String,
}

/// A payload that no longer decodes: a bug, never a reason to drop the record.
#[derive(Debug, thiserror::Error)]
#[error("undecodable version payload: {0}")]
pub struct CorruptPayload(String);

impl PendingVersion {
    /// The request to send, exactly as it was queued.
    pub fn request(&self) -> Result<RecordVersionRequest, CorruptPayload> {
        let bytes = hex::decode(&self.payload).map_err(|err| CorruptPayload(err.to_string()))?;
        RecordVersionRequest::decode(bytes.as_slice())
            .map_err(|err| CorruptPayload(err.to_string()))
    }
}

/// Claims up to `limit` records due at `now`, at most one per deployment (its lowest revision,
/// and only when that one is due), leasing them until `lease_until`.
///
/// A deployment's later revision is never returned while an earlier one is queued: the earlier
/// row is deleted only once version-svc acknowledged it. The lease keeps other relays (other
/// replicas) from sending the same record meanwhile. It is one UPDATE: SQLite runs one writer
/// at a time; on PostgreSQL, `SKIP LOCKED` passes over rows another relay is claiming, and the
/// outer `next_attempt_at` condition, re-checked on rows updated meanwhile, skips those it
/// just leased.
pub async fn claim_due_versions(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<PendingVersion>, DbErr> {
    let backend = db.get_database_backend();
    let skip_locked = match backend {
        DbBackend::Postgres => "FOR UPDATE OF head SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "UPDATE version_outbox SET next_attempt_at = ? \
         WHERE next_attempt_at <= ? AND id IN ( \
           SELECT head.id FROM version_outbox head \
           WHERE head.next_attempt_at <= ? AND NOT EXISTS ( \
             SELECT 1 FROM version_outbox earlier \
             WHERE earlier.deployment = head.deployment AND earlier.revision < head.revision) \
           ORDER BY head.next_attempt_at, head.id \
           LIMIT ? {skip_locked}) \
         RETURNING id, deployment, revision, payload, attempts, created_at"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let values = vec![lease_until.into(), now.into(), now.into(), limit.into()];
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    rows.into_iter()
        .map(|row| {
            Ok(PendingVersion {
                id: row.try_get("", "id")?,
                deployment: row.try_get("", "deployment")?,
                revision: row.try_get("", "revision")?,
                attempts: row.try_get("", "attempts")?,
                queued_at: row.try_get("", "created_at")?,
                payload: row.try_get("", "payload")?,
            })
        })
        .collect()
}

/// The records queued, and when the oldest of them was queued (`None`: nothing is queued).
pub async fn backlog(db: &impl ConnectionTrait) -> Result<(u64, Option<DateTime<Utc>>), DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "SELECT COUNT(*) AS queued, MIN(created_at) AS oldest FROM version_outbox",
            Vec::new(),
        ))
        .await?;
    let Some(row) = row else {
        return Ok((0, None));
    };
    let queued: i64 = row.try_get("", "queued")?;
    let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest")?;
    Ok((u64::try_from(queued).unwrap_or(0), oldest))
}

/// Removes delivered record `id` and raises `deployment`'s current version to `version` (never
/// lowers it: a late or repeated acknowledgement may name an older version), in one
/// transaction.
pub async fn mark_version_delivered(
    db: &DatabaseConnection,
    id: i64,
    deployment: &str,
    version: i64,
) -> Result<(), DbErr> {
    let txn = eyrie_platform::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "DELETE FROM version_outbox WHERE id = ?",
        vec![id.into()],
    ))
    .await?;
    txn.execute_raw(statement(
        backend,
        "UPDATE deployments SET current_version = ? WHERE name = ? AND current_version < ?",
        vec![version.into(), deployment.into(), version.into()],
    ))
    .await?;
    txn.commit().await
}

/// Counts one more failed delivery of record `id` and makes it due again at `retry_at`.
pub async fn schedule_version_retry(
    db: &impl ConnectionTrait,
    id: i64,
    retry_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE version_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
        vec![retry_at.into(), id.into()],
    ))
    .await?;
    Ok(())
}

/// A statement written with `?` placeholders, numbered (`$1`, `$2`, ...) for PostgreSQL.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut parts = sql.split('?');
            let mut numbered = parts.next().unwrap_or_default().to_owned();
            for (number, part) in (1..).zip(parts) {
                numbered += &format!("${number}{part}");
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let sql = "UPDATE t SET a = ? WHERE b = ?";
        let postgres = statement(DbBackend::Postgres, sql, vec![1.into(), 2.into()]);
        assert_eq!(postgres.sql, "UPDATE t SET a = $1 WHERE b = $2");
        let sqlite = statement(DbBackend::Sqlite, sql, vec![1.into(), 2.into()]);
        assert_eq!(sqlite.sql, sql);
    }
}
