//! book-runner-svc integration tests: the service in-process behind real gRPC, on SQLite and
//! (with `EYRIE_TEST_DATABASE_URL`) PostgreSQL.

mod books;
mod builtin;
mod conditions;
mod crd_schema;
mod fencing;
mod harness;
mod impersonation;
mod jobs;
mod kube_api;
mod kubernetes;
mod lease_deadline;
mod recording;
mod reports;
mod retention;
mod rollout;
mod signals;
mod waits;
mod watch;
