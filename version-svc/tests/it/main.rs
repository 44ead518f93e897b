//! version-svc integration tests: the service in-process behind real gRPC, on SQLite and
//! (with `EYRIE_TEST_DATABASE_URL`) PostgreSQL.

mod harness;
mod migrations;
mod queries;
mod record;
