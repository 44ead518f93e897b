//! Storage of book-runner-svc: books and jobs.

pub mod books;
mod entity;
pub mod jobs;
pub mod migration;
