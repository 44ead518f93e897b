//! book-runner-svc's use cases, between the gRPC adapter and the domain and storage.

pub mod books;
pub mod job_watch;
pub mod jobs;
pub mod off_thread;
pub mod retention;
