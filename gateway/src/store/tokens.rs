//! Reading and writing API tokens.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, DatabaseConnection, DbErr,
    EntityTrait as _, QueryFilter as _,
};
use sha2::{Digest as _, Sha256};

use super::{api_token, recent::RecentTokens, role_binding};

/// A token with its role bindings (project resource name, role name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The token row.
    pub token: api_token::Model,
    /// Its roles, by project.
    pub bindings: Vec<(String, String)>,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its id (the last segment of `tokens/{id}`).
    pub id: String,
    /// What it is for.
    pub display_name: String,
    /// Whether it may do everything.
    pub global_admin: bool,
    /// Its roles, by project (resource name, role name).
    pub bindings: Vec<(String, String)>,
}

/// How stale a token's `last_used_at` may get before a call records it again.
const LAST_USED_PRECISION_SECONDS: i64 = 60;

/// SHA-256 of a token, hex-encoded: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// API tokens in the gateway's database.
#[derive(Debug, Clone)]
pub struct TokenStore {
    db: DatabaseConnection,
    recent: RecentTokens,
}

impl TokenStore {
    /// Wraps the gateway's database connection; every authentication reads it.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::remembering(db, std::time::Duration::ZERO)
    }

    /// Like [`TokenStore::new`], but a token authenticated less than `ttl` ago is not read
    /// again (revoking it here forgets it at once).
    pub fn remembering(db: DatabaseConnection, ttl: std::time::Duration) -> Self {
        Self {
            db,
            recent: RecentTokens::new(ttl),
        }
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
        self.find_live_by_hash(&hash_token(token)).await
    }

    async fn find_live_by_hash(&self, hash: &str) -> Result<Option<api_token::Model>, DbErr> {
        api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
    }
}

impl TokenStore {
    /// Creates a token holding `secret` (stored as its hash); `None` when the id is taken.
    pub async fn create(&self, new: &NewToken, secret: &str) -> Result<Option<StoredToken>, DbErr> {
        use sea_orm::TransactionTrait as _;
        if api_token::Entity::find_by_id(new.id.clone())
            .one(&self.db)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let txn = self.db.begin().await?;
        api_token::ActiveModel {
            id: Set(new.id.clone()),
            display_name: Set(new.display_name.clone()),
            token_hash: Set(hash_token(secret)),
            global_admin: Set(new.global_admin),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
            last_used_at: Set(None),
        }
        .insert(&txn)
        .await?;
        for (project, role) in &new.bindings {
            role_binding::ActiveModel {
                token_id: Set(new.id.clone()),
                project: Set(project.clone()),
                role: Set(role.clone()),
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        self.get(&new.id).await
    }

    /// The token with id `id`, with its bindings.
    pub async fn get(&self, id: &str) -> Result<Option<StoredToken>, DbErr> {
        match api_token::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
        {
            Some(token) => self.with_bindings(token).await.map(Some),
            None => Ok(None),
        }
    }

    /// The live token whose secret is `secret`, with its bindings: what every call through the
    /// gateway looks up: from the recently authenticated tokens, or in two queries.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<StoredToken>, DbErr> {
        let hash = hash_token(secret);
        if let Some(token) = self.recent.get(&hash) {
            return Ok(Some(token));
        }
        match self.find_live_by_hash(&hash).await? {
            Some(mut token) => {
                let now = Utc::now();
                // Use is recorded at most about once a minute: a busy token costs no write.
                if token.last_used_at.is_none_or(|used| {
                    now - used > chrono::Duration::seconds(LAST_USED_PRECISION_SECONDS)
                }) {
                    api_token::Entity::update_many()
                        .col_expr(
                            api_token::Column::LastUsedAt,
                            sea_orm::prelude::Expr::value(now),
                        )
                        .filter(api_token::Column::Id.eq(token.id.clone()))
                        .exec(&self.db)
                        .await?;
                    token.last_used_at = Some(now);
                }
                let stored = self.with_bindings(token).await?;
                self.recent.put(hash, stored.clone());
                Ok(Some(stored))
            }
            None => Ok(None),
        }
    }

    async fn with_bindings(&self, token: api_token::Model) -> Result<StoredToken, DbErr> {
        let bindings = role_binding::Entity::find()
            .filter(role_binding::Column::TokenId.eq(token.id.clone()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|binding| (binding.project, binding.role))
            .collect();
        Ok(StoredToken { token, bindings })
    }

    /// Tokens ordered by id, after `after`, at most `limit`; revoked ones only if asked.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: u64,
        show_revoked: bool,
    ) -> Result<Vec<StoredToken>, DbErr> {
        use sea_orm::{QueryOrder as _, QuerySelect as _};
        let mut query = api_token::Entity::find();
        if let Some(after) = after {
            query = query.filter(api_token::Column::Id.gt(after));
        }
        if !show_revoked {
            query = query.filter(api_token::Column::RevokedAt.is_null());
        }
        let rows = query
            .order_by_asc(api_token::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut tokens = Vec::with_capacity(rows.len());
        for row in rows {
            tokens.push(self.with_bindings(row).await?);
        }
        Ok(tokens)
    }

    /// Revokes token `id` (idempotent: a revoked token keeps its revocation time).
    pub async fn revoke(&self, id: &str) -> Result<Option<StoredToken>, DbErr> {
        use sea_orm::prelude::Expr;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        // Forgotten once revoked: forgetting first would let a call authenticated meanwhile
        // put the still-live token back into the cache.
        self.recent.forget(id);
        self.get(id).await
    }
}
