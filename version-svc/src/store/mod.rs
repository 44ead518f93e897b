//! Storage of versions.

pub mod migration;
