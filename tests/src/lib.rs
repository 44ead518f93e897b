//! Harness for end-to-end tests: Eyrie's real binaries, started as separate processes.
//!
//! The binaries are (re)built once per test process with the same profile as the tests, so a
//! test never runs a stale service.

pub mod auth;
mod binaries;
pub mod browser;
pub mod chaos;
pub mod cli;
pub mod console;
pub mod eyrie_up;
pub mod journey;
pub mod kube_api;
pub mod metrics;
pub mod otlp;
mod process;
pub mod rpc;
pub mod scripted_job;
mod suite;
pub mod tls;
pub mod walkthrough;

pub use binaries::binary;
pub use process::{ServiceConfig, ServiceProcess, TestDatabase};
pub use suite::{
    EveryService, Suite, SuiteConfig, free_loopback_address, gateway_in_front_of_version,
    version_behind_gateway,
};
