//! version-svc integration tests: one binary, one module per subject.

mod migrations;
