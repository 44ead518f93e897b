//! deployment-svc's use cases, between the gRPC adapter and the domain and storage.

pub mod lifecycle;
pub mod peers;
mod phase_start;
pub mod resources;
