//! Storage of deployment-svc.

pub mod migration;
