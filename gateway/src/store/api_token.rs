//! The `api_tokens` table.

use sea_orm::entity::prelude::*;

/// One API token; the secret itself is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub global_admin: bool,
    pub created_at: ChronoDateTimeUtc,
    pub revoked_at: Option<ChronoDateTimeUtc>,
    pub last_used_at: Option<ChronoDateTimeUtc>,
    /// The request id of the CreateToken call that made it, if it sent one.
    #[sea_orm(unique)]
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
