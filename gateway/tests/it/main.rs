//! Gateway integration tests.

mod fixture;
mod limits;
mod scripted_runner;
mod tokens;
mod watchers;
mod web;
