//! `deployment_versions`: one row per version.

use sea_orm::entity::prelude::*;

/// A stored version. Key fields and changed fields are JSON text, read only as a whole.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i64,
    pub revision: i64,
    pub key_fields: String,
    pub changed_fields: String,
    pub actor: String,
    pub reason: String,
    pub rollback_to_version: Option<i64>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
