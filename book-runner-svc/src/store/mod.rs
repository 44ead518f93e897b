//! Storage of book-runner-svc.

pub mod migration;
