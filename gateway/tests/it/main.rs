//! Gateway integration tests.

mod tokens;
