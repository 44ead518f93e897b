//! What every Eyrie service shares, and nothing more: configuration, telemetry, database
//! connections, the gRPC server and client plumbing, shutdown, building error statuses and
//! reading the ones peers answer with, and the metrics every service exports.

pub mod caller;
pub mod changes;
pub mod config;
pub mod db;
pub mod grpc;
pub mod hosts;
pub mod internal;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod peer_status;
pub mod shutdown;
pub mod standalone;
pub mod status;
pub mod store_error;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod time;
pub mod tls;
pub mod trace_context;
pub mod violation;

pub use config::{DatabaseSettings, ServerSettings, TelemetrySettings};
