//! Gateway integration tests.

mod access;
mod fixture;
mod group_watchers;
mod limits;
mod retries;
mod scripted_deployments;
mod tls;
mod tokens;
mod watchers;
mod web;
