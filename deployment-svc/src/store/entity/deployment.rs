//! `deployments`.

use sea_orm::entity::prelude::*;

/// A stored deployment. `clusters` (array) and `parameters` (object) are JSON text, read as a
/// whole.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub project: String,
    pub deployment_group: String,
    pub slug: String,
    pub display_name: String,
    pub deployment_type: String,
    pub scope: String,
    pub clusters: String,
    pub repository: String,
    pub branch: String,
    pub image: String,
    pub commit_ref: String,
    pub parameters: String,
    pub state: String,
    pub namespace: String,
    pub revision: i64,
    pub current_version: i64,
    pub last_operation: Option<String>,
    pub running_job_count: i32,
    pub create_time: ChronoDateTimeUtc,
    pub update_time: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
