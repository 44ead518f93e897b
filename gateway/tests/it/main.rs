//! Gateway integration tests.

mod scripted_runner;
mod tokens;
mod watchers;
