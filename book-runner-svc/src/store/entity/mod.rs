//! sea-orm entities of book-runner-svc's tables.

pub mod book;
pub mod job;
pub mod job_event;
pub mod job_step;
pub mod step_log;
