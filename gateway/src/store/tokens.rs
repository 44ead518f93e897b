//! Reading and writing API tokens.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, DatabaseConnection, DbErr,
    EntityTrait as _, QueryFilter as _,
};
use sha2::{Digest as _, Sha256};

use super::api_token;

/// SHA-256 of a token, hex-encoded: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// API tokens in the gateway's database.
#[derive(Debug, Clone)]
pub struct TokenStore {
    db: DatabaseConnection,
}

impl TokenStore {
    /// Wraps the gateway's database connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Makes sure `token` is a live global-admin token, adding it if it is unknown.
    ///
    /// Runs at every start with the bootstrap token, so it must be idempotent.
    pub async fn ensure_global_admin(&self, token: &str, display_name: &str) -> Result<(), DbErr> {
        let hash = hash_token(token);
        let existing = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash.clone()))
            .one(&self.db)
            .await?;
        if existing.is_some() {
            return Ok(());
        }
        api_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            display_name: Set(display_name.to_owned()),
            token_hash: Set(hash),
            global_admin: Set(true),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
            last_used_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Finds the live (not revoked) token whose value is `token`.
    pub async fn find_live(&self, token: &str) -> Result<Option<api_token::Model>, DbErr> {
        api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash_token(token)))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
    }
}
