//! `step_logs`.

use sea_orm::entity::prelude::*;

/// One log line of one step.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "step_logs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub step_index: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i64,
    pub attempt: i32,
    pub time: ChronoDateTimeUtc,
    pub text: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
