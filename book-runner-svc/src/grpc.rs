//! The gRPC adapter of book-runner-svc.

use eyrie_proto::{
    internal::v1::job_runner_server::JobRunner,
    v1::{book_service_server::BookService, job_service_server::JobService},
};

/// Serves `eyrie.v1.BookService`, `eyrie.v1.JobService` and `eyrie.internal.v1.JobRunner`.
/// Books and jobs arrive with issue #3; until then every call answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Default)]
pub struct RunnerGrpc;

#[tonic::async_trait]
impl BookService for RunnerGrpc {}

#[tonic::async_trait]
impl JobService for RunnerGrpc {}

#[tonic::async_trait]
impl JobRunner for RunnerGrpc {}
