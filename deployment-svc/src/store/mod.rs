//! Storage of deployment-svc.

mod entity;
pub mod migration;
pub mod operations;
pub mod outbox;
pub mod resources;
#[cfg(test)]
pub(crate) mod tests;
