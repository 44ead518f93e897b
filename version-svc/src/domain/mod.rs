//! version-svc's domain: key fields, versions, and the recording rule. No transport, no SQL.

mod error;
mod key_fields;
mod version;

pub use error::{StoreError, VersionError};
pub use key_fields::{ChangeKind, FieldChange, KeyFields};
pub use version::{Decision, Head, NewVersion, Reason, Recorded, Version, decide};
