//! deployment-svc integration tests: the service in-process behind real gRPC, on SQLite and
//! (with `EYRIE_TEST_DATABASE_URL`) PostgreSQL.

mod after_commit;
mod deployments;
mod groups;
mod harness;
mod lifecycle;
mod missing_parameters;
mod next_phase;
mod projects;
mod relay;
mod snapshots;
mod type_limits;
mod validation;
mod versions;
mod watches;
