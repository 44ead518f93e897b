//! `deployment_groups`.

use sea_orm::entity::prelude::*;

/// A stored deployment group with its four book references.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub project: String,
    pub slug: String,
    pub display_name: String,
    pub deployment_type: String,
    pub initialize_book: String,
    pub deploy_book: String,
    pub pause_book: String,
    pub drop_book: String,
    pub revision: i64,
    pub create_time: ChronoDateTimeUtc,
    pub update_time: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
