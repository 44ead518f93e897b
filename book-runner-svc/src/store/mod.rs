//! Storage of book-runner-svc: books and jobs.

mod entity;
pub mod migration;
