//! The gRPC adapter of book-runner-svc.

pub mod books;
pub mod convert;
mod job_status;
pub mod jobs;
pub mod runner;
mod watch;
