//! End-to-end tests: Eyrie's real binaries as separate processes on loopback ports.

mod authorization;
mod browser_smoke;
mod cli;
mod console_browser;
mod first_run;
mod gateway;
mod grpcurl;
mod journey;
mod kubernetes_journey;
mod metrics;
mod otlp_metrics;
mod otlp_trace;
mod roles_on_every_path;
mod services;
mod takeover;
mod tls;
mod trace;
mod up;
mod versions;
