//! Authorization: roles on projects and the access rule of every public RPC.

pub mod policy;
pub mod retry;
pub mod roles;
pub mod wire;

pub use roles::{Grants, Role};
