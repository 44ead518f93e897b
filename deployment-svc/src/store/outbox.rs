//! The version outbox: a deployment change and the version record it owes version-svc are
//! written in one transaction, so no key-field change goes unrecorded, even while version-svc
//! is down. The relay delivers the records later, in revision order per deployment.

use chrono::{DateTime, Utc};
use eyrie_proto::{internal::v1::RecordVersionRequest, v1 as pb};
use prost::Message as _;
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbErr, Statement};

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
            time: Some(prost_types::Timestamp {
                seconds: self.time.timestamp(),
                nanos: i32::try_from(self.time.timestamp_subsec_nanos()).unwrap_or(0),
            }),
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
                "INSERT INTO version_outbox (deployment, revision, payload, created_at, attempts, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, 0, $4)"
            }
            _ => {
                "INSERT INTO version_outbox (deployment, revision, payload, created_at, attempts, next_attempt_at) \
                 VALUES (?, ?, ?, ?, 0, ?)"
            }
        },
        match backend {
            sea_orm::DbBackend::Postgres => vec![
                record.deployment.clone().into(),
                record.revision.into(),
                payload.into(),
                record.time.into(),
            ],
            _ => vec![
                record.deployment.clone().into(),
                record.revision.into(),
                payload.into(),
                record.time.into(),
                record.time.into(),
            ],
        },
    ))
    .await?;
    Ok(())
}
