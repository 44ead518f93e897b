//! book-runner-svc's domain: books, their validation and rendering, jobs and their state
//! machine. No transport, no SQL.

pub mod book;
pub mod books;
pub mod builtin;
pub mod confinement;
pub mod error;
pub mod hosts;
pub mod job;
pub mod manifest;
pub mod render;
pub mod snapshot;
pub mod step_kind;
pub mod template;
pub mod validate;
