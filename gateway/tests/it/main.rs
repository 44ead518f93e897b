//! Gateway integration tests.

mod access;
mod fixture;
mod group_watchers;
mod limits;
mod operation_watchers;
mod replicas;
mod retries;
mod scripted_deployments;
mod tls;
mod tokens;
mod watchers;
mod web;
