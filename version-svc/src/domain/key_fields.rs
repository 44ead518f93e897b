//! The key fields of a deployment, and how two snapshots of them differ.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The fields whose change makes a new version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFields {
    /// Source repository.
    pub repository: String,
    /// Git branch.
    pub branch: String,
    /// Container image reference.
    pub image: String,
    /// Commit or ref the image was built from.
    pub commit_ref: String,
    /// Cluster resource names, in order (order is significant).
    pub clusters: Vec<String>,
    /// Scope resource name.
    pub scope: String,
    /// Parameters the books read.
    pub parameters: BTreeMap<String, String>,
}

/// How one field differs between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Absent before, present after.
    Added,
    /// Present before, absent after.
    Removed,
    /// Present on both sides with different values.
    Modified,
}

/// One field that differs between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// `repository`, ..., `scope`, or `parameters.<key>`.
    pub field: String,
    /// How it differs.
    pub kind: ChangeKind,
    /// Value before; empty when added.
    pub old_value: String,
    /// Value after; empty when removed.
    pub new_value: String,
}

impl KeyFields {
    /// Every field in canonical order (the fixed fields, then parameters by key), with its value
    /// when present. A string field or `clusters` is present when non-empty; a parameter when its
    /// key exists, even with an empty value.
    fn present_fields(&self) -> BTreeMap<FieldKey, String> {
        let mut fields = BTreeMap::new();
        let fixed = [
            (FieldKey::Repository, self.repository.clone()),
            (FieldKey::Branch, self.branch.clone()),
            (FieldKey::Image, self.image.clone()),
            (FieldKey::CommitRef, self.commit_ref.clone()),
            (FieldKey::Clusters, self.clusters.join(",")),
            (FieldKey::Scope, self.scope.clone()),
        ];
        for (key, value) in fixed {
            if !value.is_empty() {
                fields.insert(key, value);
            }
        }
        for (key, value) in &self.parameters {
            fields.insert(FieldKey::Parameter(key.clone()), value.clone());
        }
        fields
    }

    /// Names of the fields that are set, as version 1 records them.
    pub fn set_fields(&self) -> Vec<String> {
        self.present_fields()
            .keys()
            .map(FieldKey::to_string)
            .collect()
    }

    /// Every field that differs from `self` (before) to `after`, in canonical order.
    pub fn changes_to(&self, after: &KeyFields) -> Vec<FieldChange> {
        let before = self.present_fields();
        let after = after.present_fields();
        let keys: BTreeSet<&FieldKey> = before.keys().chain(after.keys()).collect();
        keys.into_iter()
            .filter_map(|key| {
                let (kind, old_value, new_value) = match (before.get(key), after.get(key)) {
                    (Some(old), Some(new)) if old == new => return None,
                    (Some(old), Some(new)) => (ChangeKind::Modified, old.clone(), new.clone()),
                    (None, Some(new)) => (ChangeKind::Added, String::new(), new.clone()),
                    (Some(old), None) => (ChangeKind::Removed, old.clone(), String::new()),
                    (None, None) => return None,
                };
                Some(FieldChange {
                    field: key.to_string(),
                    kind,
                    old_value,
                    new_value,
                })
            })
            .collect()
    }

    /// Names of the fields that differ from `self` to `after`.
    pub fn changed_field_names(&self, after: &KeyFields) -> Vec<String> {
        self.changes_to(after)
            .into_iter()
            .map(|change| change.field)
            .collect()
    }
}

/// A field, ordered as the contract lists them: fixed fields first, then parameters by key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum FieldKey {
    Repository,
    Branch,
    Image,
    CommitRef,
    Clusters,
    Scope,
    Parameter(String),
}

impl std::fmt::Display for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Repository => f.write_str("repository"),
            Self::Branch => f.write_str("branch"),
            Self::Image => f.write_str("image"),
            Self::CommitRef => f.write_str("commit_ref"),
            Self::Clusters => f.write_str("clusters"),
            Self::Scope => f.write_str("scope"),
            Self::Parameter(key) => write!(f, "parameters.{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn odoo() -> KeyFields {
        KeyFields {
            repository: "git@github.com:acme/shop.git".into(),
            branch: "main".into(),
            image: "odoo:17.0".into(),
            commit_ref: String::new(),
            clusters: vec!["projects/acme/clusters/eu".into()],
            scope: "projects/acme/scopes/dev".into(),
            parameters: [("db_host".to_owned(), "pg".to_owned())].into(),
        }
    }

    #[test]
    fn first_version_lists_the_fields_that_are_set_in_contract_order() {
        assert_eq!(
            odoo().set_fields(),
            [
                "repository",
                "branch",
                "image",
                "clusters",
                "scope",
                "parameters.db_host"
            ]
        );
    }

    #[test]
    fn equal_snapshots_have_no_change() {
        assert!(odoo().changes_to(&odoo()).is_empty());
    }

    #[test]
    fn changes_name_each_field_with_its_old_and_new_value() {
        let mut after = odoo();
        after.image = "odoo:17.1".into();
        after.commit_ref = "abc123".into();
        after.clusters.push("projects/acme/clusters/us".into());
        after.parameters.remove("db_host");
        after.parameters.insert("workers".into(), String::new());

        let changes = odoo().changes_to(&after);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.kind,
                    c.old_value.as_str(),
                    c.new_value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("image", ChangeKind::Modified, "odoo:17.0", "odoo:17.1"),
                ("commit_ref", ChangeKind::Added, "", "abc123"),
                (
                    "clusters",
                    ChangeKind::Modified,
                    "projects/acme/clusters/eu",
                    "projects/acme/clusters/eu,projects/acme/clusters/us"
                ),
                ("parameters.db_host", ChangeKind::Removed, "pg", ""),
                // A key with an empty value is present: adding it is a change.
                ("parameters.workers", ChangeKind::Added, "", ""),
            ]
        );
    }

    #[test]
    fn cluster_order_is_significant() {
        let mut before = odoo();
        before.clusters = vec!["a".into(), "b".into()];
        let mut after = odoo();
        after.clusters = vec!["b".into(), "a".into()];
        assert_eq!(before.changed_field_names(&after), ["clusters"]);
    }
}
