//! Authorization: roles on projects and the access rule of every public RPC, declared in the
//! contract and built into a table at start.

pub mod policy;
pub mod retry;
pub mod roles;
pub mod rules;
pub mod wire;

pub use policy::{AccessRules, Rule};
pub use roles::{Grants, Role};
