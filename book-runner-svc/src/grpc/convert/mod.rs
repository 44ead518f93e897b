//! Protobuf messages to and from the domain. Prost types stop here.

pub mod book;
pub mod job;
pub mod snapshot;
