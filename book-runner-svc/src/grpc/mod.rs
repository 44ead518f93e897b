//! The gRPC adapter of book-runner-svc.

pub mod books;
pub mod convert;
mod job_status;
pub mod jobs;
pub mod runner;
mod watch;

use eyrie_proto::v1::book_service_server::BookService;

/// Placeholder for `eyrie.v1.BookService` until its handlers are wired: every call answers
/// `UNIMPLEMENTED`.
#[derive(Debug, Clone, Default)]
pub struct BooksPending;

#[tonic::async_trait]
impl BookService for BooksPending {}
