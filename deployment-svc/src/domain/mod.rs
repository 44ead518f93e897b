//! deployment-svc's domain: resources, names, validation, the lifecycle state machine and
//! errors. No transport, no SQL.

pub mod error;
pub mod lifecycle;
pub mod names;
pub mod operation;
pub mod requirements;
pub mod resources;
pub mod state;
pub mod validation;

pub use error::{DeploymentError, StoreError};
