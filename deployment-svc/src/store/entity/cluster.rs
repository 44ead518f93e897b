//! `clusters`.

use sea_orm::entity::prelude::*;

/// A stored cluster: `driver` says which connection columns are meaningful.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub project: String,
    pub slug: String,
    pub display_name: String,
    pub driver: String,
    pub kubeconfig_path: String,
    pub kube_context: String,
    pub in_cluster: bool,
    pub directory_path: String,
    /// With driver `directory`: the runner plays the controllers on its files.
    pub simulated: bool,
    pub create_time: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
