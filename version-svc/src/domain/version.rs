//! Versions, and the rule that decides what a recorded revision becomes.

use chrono::{DateTime, Utc};
use eyrie_platform::names::{DeploymentName, VersionName};

use super::KeyFields;

/// Why a version was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The deployment was created.
    Create,
    /// An update changed a key field.
    Update,
    /// A Deploy restored the key fields of an earlier version.
    Rollback {
        /// The version whose key fields were restored.
        to_version: i64,
    },
}

impl Reason {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Rollback { .. } => "rollback",
        }
    }

    /// Reads back a stored reason.
    pub fn from_stored(reason: &str, rollback_to_version: Option<i64>) -> Option<Self> {
        match (reason, rollback_to_version) {
            ("create", _) => Some(Self::Create),
            ("update", _) => Some(Self::Update),
            ("rollback", Some(to_version)) => Some(Self::Rollback { to_version }),
            _ => None,
        }
    }

    /// The version rolled back to, if any.
    pub fn rollback_to_version(self) -> Option<i64> {
        match self {
            Self::Rollback { to_version } => Some(to_version),
            Self::Create | Self::Update => None,
        }
    }
}

/// One recorded version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The deployment it belongs to.
    pub deployment: DeploymentName,
    /// 1, 2, 3, ... per deployment.
    pub number: i64,
    /// The deployment revision it was recorded from.
    pub revision: i64,
    /// The key fields at that revision.
    pub key_fields: KeyFields,
    /// Fields that differ from the previous version (every set field for version 1).
    pub changed_fields: Vec<String>,
    /// Who made the change.
    pub actor: String,
    /// Why.
    pub reason: Reason,
    /// When the change was made in the deployment.
    pub created_at: DateTime<Utc>,
}

impl Version {
    /// Its resource name.
    pub fn name(&self) -> VersionName {
        VersionName {
            deployment: self.deployment.clone(),
            number: self.number,
        }
    }
}

/// A revision of a deployment to record, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// The deployment.
    pub deployment: DeploymentName,
    /// Its revision, 1 or more.
    pub revision: i64,
    /// Its key fields at that revision.
    pub key_fields: KeyFields,
    /// Who made the change.
    pub actor: String,
    /// Why.
    pub reason: Reason,
    /// When the change was made.
    pub changed_at: DateTime<Utc>,
    /// The number deployment-svc gave it, if it did.
    pub number: Option<i64>,
}

/// What recording a revision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The version created, or the one that stands for the revision.
    pub version: Version,
    /// True only when this call created `version`.
    pub created: bool,
}

/// Per-deployment bookkeeping kept beside the versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    /// Number of the latest version (0 before the first).
    pub latest_number: i64,
    /// Highest revision seen, whether or not it made a version (0 before the first).
    pub latest_revision: i64,
}

/// What to do with a revision that has no version of its own yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Older than (or as old as) a revision already seen: delivered late, it must not create a
    /// version after a newer one. The latest version stands.
    Stale,
    /// Newer, but its key fields equal the latest version's: nothing to record.
    Unchanged,
    /// Newer and different: create version `number`.
    Create {
        /// The next number.
        number: i64,
        /// Fields that differ from the latest version.
        changed_fields: Vec<String>,
    },
}

/// Decides what revision `new` becomes, given the deployment's head and latest version.
pub fn decide(head: Head, latest: Option<&KeyFields>, new: &NewVersion) -> Decision {
    if new.revision <= head.latest_revision {
        return Decision::Stale;
    }
    // deployment-svc numbered it and judged it a change: recorded as numbered, unless that
    // number is taken (then it cannot be this revision's, and the latest stands).
    if let Some(number) = new.number {
        if number <= head.latest_number {
            return Decision::Stale;
        }
        let changed_fields = match latest {
            Some(latest) => latest.changed_field_names(&new.key_fields),
            None => new.key_fields.set_fields(),
        };
        return Decision::Create {
            number,
            changed_fields,
        };
    }
    match latest {
        Some(latest) if *latest == new.key_fields => Decision::Unchanged,
        Some(latest) => Decision::Create {
            number: head.latest_number + 1,
            changed_fields: latest.changed_field_names(&new.key_fields),
        },
        None => Decision::Create {
            number: head.latest_number + 1,
            changed_fields: new.key_fields.set_fields(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_version(revision: i64, image: &str) -> NewVersion {
        NewVersion {
            deployment: DeploymentName::parse("d", "projects/p/groups/g/deployments/d").unwrap(),
            revision,
            key_fields: KeyFields {
                image: image.into(),
                ..KeyFields::default()
            },
            actor: "tokens/admin".into(),
            reason: Reason::Update,
            changed_at: Utc::now(),
            number: None,
        }
    }

    #[test]
    fn a_revision_numbered_by_deployment_svc_keeps_its_number_unless_it_is_taken() {
        let head = Head {
            latest_number: 2,
            latest_revision: 5,
        };
        let latest = new_version(5, "odoo:17").key_fields;
        let numbered = |number| NewVersion {
            number: Some(number),
            ..new_version(6, "odoo:18")
        };
        assert_eq!(
            decide(head, Some(&latest), &numbered(3)),
            Decision::Create {
                number: 3,
                changed_fields: vec!["image".into()]
            }
        );
        assert_eq!(decide(head, Some(&latest), &numbered(2)), Decision::Stale);
        let same = NewVersion {
            number: Some(3),
            ..new_version(6, "odoo:17")
        };
        assert!(
            matches!(
                decide(head, Some(&latest), &same),
                Decision::Create { number: 3, .. }
            ),
            "deployment-svc judged it a version: it is recorded as numbered"
        );
    }

    #[test]
    fn the_first_revision_creates_version_one_with_its_set_fields() {
        let decision = decide(Head::default(), None, &new_version(1, "odoo:17"));
        assert_eq!(
            decision,
            Decision::Create {
                number: 1,
                changed_fields: vec!["image".into()]
            }
        );
    }

    #[test]
    fn a_newer_revision_with_other_key_fields_creates_the_next_number() {
        let head = Head {
            latest_number: 3,
            latest_revision: 7,
        };
        let latest = new_version(7, "odoo:17").key_fields;
        let decision = decide(head, Some(&latest), &new_version(8, "odoo:18"));
        assert_eq!(
            decision,
            Decision::Create {
                number: 4,
                changed_fields: vec!["image".into()]
            }
        );
    }

    #[test]
    fn a_newer_revision_with_equal_key_fields_creates_nothing() {
        let head = Head {
            latest_number: 1,
            latest_revision: 1,
        };
        let latest = new_version(1, "odoo:17").key_fields;
        assert_eq!(
            decide(head, Some(&latest), &new_version(2, "odoo:17")),
            Decision::Unchanged
        );
    }

    #[test]
    fn an_old_revision_delivered_late_never_creates_a_version() {
        let head = Head {
            latest_number: 2,
            latest_revision: 5,
        };
        let latest = new_version(5, "odoo:18").key_fields;
        assert_eq!(
            decide(head, Some(&latest), &new_version(4, "odoo:17")),
            Decision::Stale
        );
        assert_eq!(
            decide(head, Some(&latest), &new_version(5, "odoo:19")),
            Decision::Stale
        );
    }

    #[test]
    fn reasons_round_trip_through_storage() {
        for reason in [
            Reason::Create,
            Reason::Update,
            Reason::Rollback { to_version: 3 },
        ] {
            assert_eq!(
                Reason::from_stored(reason.as_str(), reason.rollback_to_version()),
                Some(reason)
            );
        }
        assert_eq!(Reason::from_stored("rollback", None), None);
    }
}
