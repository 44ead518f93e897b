//! gRPC plumbing: serving our endpoints and calling our peers.

mod client;
pub mod drain;
mod server;

pub use client::{CONNECT_TIMEOUT, TracedChannel, parse_addresses, traced_channel, traced_pool};
pub use server::{Endpoint, GrpcWeb, InProcess, Reflection};
