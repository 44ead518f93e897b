//! `projects`.

use sea_orm::entity::prelude::*;

/// A stored project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub slug: String,
    pub display_name: String,
    pub create_time: ChronoDateTimeUtc,
    /// JSON list of namespace patterns.
    pub boundary_namespaces: String,
    /// JSON list of `group/Kind` patterns.
    pub boundary_cluster_kinds: String,
    /// JSON list of `http.check` host allowances.
    pub boundary_hosts: String,
    pub revision: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
