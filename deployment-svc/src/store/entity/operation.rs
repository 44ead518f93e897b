//! `operations`.

use sea_orm::entity::prelude::*;

/// A stored operation; phases, jobs and unexpected events are JSON lists.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub deployment: String,
    pub action: String,
    pub status: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub phases: String,
    pub phase_index: i32,
    pub jobs: String,
    pub message: String,
    pub rollback_to_version: Option<i64>,
    pub retry_of: Option<String>,
    pub resume_job: Option<String>,
    pub create_time: ChronoDateTimeUtc,
    pub end_time: Option<ChronoDateTimeUtc>,
    pub unexpected_events: String,
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
