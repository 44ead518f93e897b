//! Gateway integration tests.

mod fixture;
mod group_watchers;
mod limits;
mod scripted_deployments;
mod tokens;
mod watchers;
mod web;
