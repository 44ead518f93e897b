//! Eyrie's protobuf contracts, compiled into Rust.
//!
//! - [`v1`]: the public API (package `eyrie.v1`), served by the gateway.
//! - [`internal::v1`]: the calls between services (package `eyrie.internal.v1`), never routed by the gateway.

#![allow(clippy::all, missing_docs)] // generated code

/// The public API, package `eyrie.v1`.
pub mod v1 {
    tonic::include_proto!("eyrie.v1");
}

/// Calls between Eyrie's own services.
pub mod internal {
    /// Package `eyrie.internal.v1`.
    pub mod v1 {
        tonic::include_proto!("eyrie.internal.v1");
    }
}

pub mod book_parameters;

/// Encoded descriptors of every file (public and internal), for the services' reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/eyrie_all.bin"));

/// Encoded descriptors of the public package only, for the gateway's reflection.
pub const PUBLIC_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/eyrie_public.bin"));

/// Fully qualified names of the public services, as reflection lists them.
pub const PUBLIC_SERVICES: &[&str] = &[
    "eyrie.v1.DeploymentService",
    "eyrie.v1.BookService",
    "eyrie.v1.JobService",
    "eyrie.v1.VersionService",
    "eyrie.v1.AccessService",
];
