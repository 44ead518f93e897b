//! The gateway's storage: API tokens.

pub mod api_token;
pub mod migration;
mod recent;
pub mod role_binding;
mod tokens;

pub use tokens::{NewToken, StoredToken, TokenStore, hash_token};
