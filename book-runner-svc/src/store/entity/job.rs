//! `jobs`.

use sea_orm::entity::prelude::*;

/// A stored job, with its lease and its outcome-report outbox.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub deployment: String,
    pub operation: String,
    pub action: String,
    pub phase: String,
    pub book: String,
    pub book_content: String,
    pub snapshot: String,
    pub status: String,
    pub message: String,
    pub actor: String,
    pub request_id: String,
    pub retry_of: Option<String>,
    pub resume_from: i32,
    pub created_at: ChronoDateTimeUtc,
    pub started_at: Option<ChronoDateTimeUtc>,
    pub ended_at: Option<ChronoDateTimeUtc>,
    pub lease_owner: Option<String>,
    pub lease_epoch: i64,
    pub lease_expires_at: Option<ChronoDateTimeUtc>,
    pub cancel_requested: bool,
    pub last_sequence: i64,
    pub report_state: String,
    pub report_attempts: i32,
    pub next_report_at: Option<ChronoDateTimeUtc>,
    /// The step the first claim starts by itself, if any (see the migration that added it).
    pub opening_step: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
