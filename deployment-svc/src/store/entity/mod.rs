//! sea-orm entities of deployment-svc's resource tables.

pub mod cluster;
pub mod deployment;
pub mod deployment_group;
pub mod operation;
pub mod project;
pub mod request_id;
pub mod scope;
