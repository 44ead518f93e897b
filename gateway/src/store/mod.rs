//! The gateway's storage: API tokens.

pub mod api_token;
pub mod migration;
mod tokens;

pub use tokens::{TokenStore, hash_token};
