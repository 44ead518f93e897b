//! `deployment_version_heads`: one row per deployment, locked while a version is numbered.

use sea_orm::entity::prelude::*;

/// Latest version number and highest revision seen for one deployment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_version_heads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment: String,
    pub latest_number: i64,
    pub latest_revision: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
