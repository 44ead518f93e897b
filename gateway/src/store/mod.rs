//! The gateway's storage: API tokens.

pub mod api_token;
pub mod migration;
mod recent;
pub mod role_binding;
mod tokens;

pub use tokens::{Created, NewToken, Revoked, StoredToken, TokenStore, hash_token};
