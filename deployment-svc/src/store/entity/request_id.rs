//! `request_ids`: which resource the first call with a request id created or changed, per
//! parent, so that one tenant's ids never meet another's.

use sea_orm::entity::prelude::*;

/// One request id of one RPC under one parent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "request_ids")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub method: String,
    /// The parent of the resource: empty for a project, `projects/{p}` for a scope, ...
    #[sea_orm(primary_key, auto_increment = false)]
    pub parent: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    pub resource: String,
    pub create_time: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
