//! sea-orm entities of version-svc's tables.

pub mod version;
pub mod version_head;
