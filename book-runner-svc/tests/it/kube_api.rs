//! The test API server's helpers, shared with the end-to-end tests (`eyrie_tests::kube_api`).

pub use eyrie_tests::kube_api::*;
