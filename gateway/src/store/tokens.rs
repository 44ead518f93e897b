//! Reading and writing API tokens.

use std::sync::Arc;

use chrono::Utc;
use eyrie_platform::db::begin_write;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseConnection,
    DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, SqlErr,
    prelude::Expr,
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
    /// Whether `id` was generated because the request named none: a retry of the request then
    /// generates another, and is recognised without it.
    pub generated_id: bool,
    /// The request's idempotency key, if it sent one.
    pub request_id: Option<String>,
}

impl NewToken {
    /// Whether `stored` is what this request creates: a retry of the same request.
    fn is_request_of(&self, stored: &StoredToken) -> bool {
        let sorted = |bindings: &[(String, String)]| {
            let mut bindings = bindings.to_vec();
            bindings.sort();
            bindings
        };
        (self.generated_id || stored.token.id == self.id)
            && stored.token.display_name == self.display_name
            && stored.token.global_admin == self.global_admin
            && sorted(&stored.bindings) == sorted(&self.bindings)
    }
}

/// What [`TokenStore::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// It created this token.
    New(StoredToken),
    /// An earlier call with the same request id and the same request created this token;
    /// nothing was created now.
    Replayed(StoredToken),
    /// Another token has the id.
    IdTaken,
    /// The request id was first sent with another request, which created this token (its name).
    RequestIdReused(String),
}

/// What [`TokenStore::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The token, revoked now or earlier.
    Done(StoredToken),
    /// No token has the id.
    NotFound,
    /// The token is the last live global admin token: it was left live, since revoking it would
    /// leave nobody able to manage tokens.
    LastGlobalAdmin,
    /// The token is the one asking: it was left live, since revoking it would lock its holder out.
    OwnToken,
}

/// How stale a token's `last_used_at` may get before a call records it again.
const LAST_USED_PRECISION_SECONDS: i64 = 60;

/// SHA-256 of a token, hex-encoded: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(token_digest(token))
}

/// SHA-256 of a token.
fn token_digest(token: &str) -> super::recent::SecretDigest {
    Sha256::digest(token.as_bytes()).into()
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
        // One statement, not a read then an insert: gateways that start together with the
        // same token all succeed, and one row is stored.
        let admin = api_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            display_name: Set(display_name.to_owned()),
            token_hash: Set(hash_token(token)),
            global_admin: Set(true),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
            last_used_at: Set(None),
            request_id: Set(None),
        };
        api_token::Entity::insert(admin)
            .on_conflict_do_nothing_on([api_token::Column::TokenHash])
            .exec(&self.db)
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
    /// Creates a token holding `secret` (stored as its hash), unless the request was already
    /// answered (its request id) or the id is taken.
    pub async fn create(&self, new: &NewToken, secret: &str) -> Result<Created, DbErr> {
        match self.insert(new, secret).await {
            Ok(created) => Ok(created),
            // Another call got past the lookups first (PostgreSQL lets two transactions look at
            // once): what it created decides, as if this call had come second.
            Err(err) if is_unique_violation(&err) => match self.earlier(&self.db, new).await? {
                Some(earlier) => Ok(earlier),
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    async fn insert(&self, new: &NewToken, secret: &str) -> Result<Created, DbErr> {
        let txn = begin_write(&self.db).await?;
        if let Some(earlier) = self.earlier(&txn, new).await? {
            return Ok(earlier);
        }
        api_token::ActiveModel {
            id: Set(new.id.clone()),
            display_name: Set(new.display_name.clone()),
            token_hash: Set(hash_token(secret)),
            global_admin: Set(new.global_admin),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
            last_used_at: Set(None),
            request_id: Set(new.request_id.clone()),
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
        let stored = self
            .get(&new.id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("token {} just created", new.id)))?;
        Ok(Created::New(stored))
    }

    /// What an earlier call already did for `new`: the token created with its request id (the
    /// same request, or another one), or the token holding its id.
    async fn earlier(
        &self,
        conn: &impl ConnectionTrait,
        new: &NewToken,
    ) -> Result<Option<Created>, DbErr> {
        if let Some(request_id) = &new.request_id {
            let first = api_token::Entity::find()
                .filter(api_token::Column::RequestId.eq(request_id.clone()))
                .one(conn)
                .await?;
            if let Some(first) = first {
                let first = with_bindings(conn, first).await?;
                return Ok(Some(if new.is_request_of(&first) {
                    Created::Replayed(first)
                } else {
                    Created::RequestIdReused(format!("tokens/{}", first.token.id))
                }));
            }
        }
        let taken = api_token::Entity::find_by_id(new.id.clone())
            .one(conn)
            .await?
            .is_some();
        Ok(taken.then_some(Created::IdTaken))
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
    ///
    /// A recently authenticated token is shared, not copied: the hot path allocates nothing.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Arc<StoredToken>>, DbErr> {
        let digest = token_digest(secret);
        if let Some(token) = self.recent.get(&digest) {
            return Ok(Some(token));
        }
        match self.find_live_by_hash(&hex::encode(digest)).await? {
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
                let stored = Arc::new(self.with_bindings(token).await?);
                self.recent.put(digest, stored.clone());
                Ok(Some(stored))
            }
            None => Ok(None),
        }
    }

    async fn with_bindings(&self, token: api_token::Model) -> Result<StoredToken, DbErr> {
        with_bindings(&self.db, token).await
    }

    /// Tokens ordered by id, after `after`, at most `limit`; revoked ones only if asked.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: u64,
        show_revoked: bool,
    ) -> Result<Vec<StoredToken>, DbErr> {
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

    /// Revokes token `id` for the holder of token `by` (idempotent: a revoked token keeps its
    /// revocation time), unless it is the last live global admin token, or `by` itself.
    pub async fn revoke(&self, id: &str, by: &str) -> Result<Revoked, DbErr> {
        let txn = begin_write(&self.db).await?;
        let Some(token) = api_token::Entity::find_by_id(id.to_owned())
            .one(&txn)
            .await?
        else {
            return Ok(Revoked::NotFound);
        };
        if token.revoked_at.is_none() && token.global_admin {
            // Every live global admin is locked, in id order, before counting them: two admins
            // revoking each other at once are then judged one after the other, and the second
            // sees that only its target is left (SQLite's write transaction serialises them
            // anyway).
            let live_admins = api_token::Entity::find()
                .filter(api_token::Column::GlobalAdmin.eq(true))
                .filter(api_token::Column::RevokedAt.is_null())
                .order_by_asc(api_token::Column::Id)
                .lock_exclusive()
                .all(&txn)
                .await?;
            if live_admins.iter().all(|admin| admin.id == id) {
                return Ok(Revoked::LastGlobalAdmin);
            }
        }
        if token.revoked_at.is_none() && id == by {
            return Ok(Revoked::OwnToken);
        }
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        // Forgotten once revoked: forgetting first would let a call authenticated meanwhile
        // put the still-live token back into the cache.
        self.recent.forget(id);
        Ok(match self.get(id).await? {
            Some(stored) => Revoked::Done(stored),
            None => Revoked::NotFound,
        })
    }
}

/// `token` with its role bindings, read on `conn`.
async fn with_bindings(
    conn: &impl ConnectionTrait,
    token: api_token::Model,
) -> Result<StoredToken, DbErr> {
    let bindings = role_binding::Entity::find()
        .filter(role_binding::Column::TokenId.eq(token.id.clone()))
        .all(conn)
        .await?
        .into_iter()
        .map(|binding| (binding.project, binding.role))
        .collect();
    Ok(StoredToken { token, bindings })
}

/// Whether `err` is a unique index refusing a row (a primary key included).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
