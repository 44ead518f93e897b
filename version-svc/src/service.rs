//! version-svc's use cases, over any [`VersionStore`].

use eyrie_platform::names::{DeploymentName, VersionName};

use crate::{
    domain::{FieldChange, NewVersion, Recorded, Version, VersionError},
    store::VersionStore,
};

/// Records and reads versions.
#[derive(Debug, Clone)]
pub struct Versions<S> {
    store: S,
}

/// One page of a deployment's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPage {
    /// Newest first.
    pub versions: Vec<Version>,
    /// Where the next page starts (versions numbered below it), if there is one.
    pub next_before: Option<i64>,
}

/// Two versions of one deployment and what differs between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDiff {
    /// The "old" side.
    pub from: Version,
    /// The "new" side.
    pub to: Version,
    /// Fields that differ, in canonical order.
    pub changes: Vec<FieldChange>,
}

impl<S: VersionStore> Versions<S> {
    /// Serves versions from `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// Records a revision (see `RecordVersion` in the contract).
    pub async fn record(&self, new: &NewVersion) -> Result<Recorded, VersionError> {
        Ok(self.store.record(new).await?)
    }

    /// One version, or `VersionNotFound`.
    pub async fn get(&self, name: &VersionName) -> Result<Version, VersionError> {
        self.store
            .get(&name.deployment, name.number)
            .await?
            .ok_or_else(|| VersionError::VersionNotFound(name.to_string()))
    }

    /// A page of `limit` versions numbered below `before`, newest first. A deployment without any
    /// version has an empty page: its first version may still be on its way from deployment-svc,
    /// and version-svc cannot tell such a deployment from one that does not exist.
    pub async fn list(
        &self,
        deployment: &DeploymentName,
        before: Option<i64>,
        limit: u64,
    ) -> Result<VersionPage, VersionError> {
        // One extra row tells whether another page follows, without a count query.
        let mut versions = self.store.list(deployment, before, limit + 1).await?;
        let next_before = if versions.len() as u64 > limit {
            versions.truncate(limit as usize);
            versions.last().map(|last| last.number)
        } else {
            None
        };
        Ok(VersionPage {
            versions,
            next_before,
        })
    }

    /// Compares two versions of one deployment.
    pub async fn diff(
        &self,
        from: &VersionName,
        to: &VersionName,
    ) -> Result<VersionDiff, VersionError> {
        if from.deployment != to.deployment {
            return Err(VersionError::invalid(
                eyrie_platform::status::FieldViolation::new(
                    "to",
                    format!(
                        "must be a version of the same deployment as `from` ({}), not of {}",
                        from.deployment, to.deployment
                    ),
                ),
            ));
        }
        let from = self.get(from).await?;
        let to = self.get(to).await?;
        let changes = from.key_fields.changes_to(&to.key_fields);
        Ok(VersionDiff { from, to, changes })
    }
}
