//! A project's boundary: the namespaces and cluster-scoped kinds its books may touch besides
//! each deployment's own namespace. Global admins set it; the runner enforces it.

use eyrie_platform::violation::FieldViolation;

/// Most patterns of each list.
pub const MAX_PATTERNS: usize = 50;

/// What a project's books may touch besides each deployment's own namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boundary {
    /// Namespaces, by name or `*` glob.
    pub namespaces: Vec<String>,
    /// Cluster-scoped kinds as `group/Kind`, `*` globs allowed.
    pub cluster_kinds: Vec<String>,
    /// Hosts `http.check` may reach although the runner refuses them by default.
    pub hosts: Vec<String>,
}

impl Boundary {
    /// Every problem of the boundary at `field` (e.g. `project.boundary`).
    pub fn violations(&self, field: &str) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        for (list, patterns, check) in [
            (
                "namespaces",
                &self.namespaces,
                namespace_pattern as fn(&str) -> Result<(), String>,
            ),
            ("cluster_kinds", &self.cluster_kinds, kind_pattern),
            ("hosts", &self.hosts, host_entry),
        ] {
            if patterns.len() > MAX_PATTERNS {
                violations.push(FieldViolation::new(
                    format!("{field}.{list}"),
                    format!("holds at most {MAX_PATTERNS} patterns"),
                ));
            }
            for (index, pattern) in patterns.iter().enumerate() {
                if let Err(description) = check(pattern) {
                    violations.push(FieldViolation::new(
                        format!("{field}.{list}[{index}]"),
                        format!("{pattern:?} {description}"),
                    ));
                }
            }
        }
        violations
    }
}

/// A namespace name (DNS-1123 label) in which `*` may stand for any run of characters.
fn namespace_pattern(pattern: &str) -> Result<(), String> {
    let valid = !pattern.is_empty()
        && pattern.len() <= 63
        && pattern
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*');
    if valid {
        Ok(())
    } else {
        Err("is not a namespace name or glob (a-z, 0-9, -, *; at most 63 characters)".to_owned())
    }
}

/// An address, a CIDR network or a host name, read as the runner reads them.
fn host_entry(entry: &str) -> Result<(), String> {
    entry
        .parse::<eyrie_platform::hosts::AllowedHost>()
        .map(|_| ())
        .map_err(|_| {
            "is neither an address, a network (CIDR such as 10.20.0.0/16) nor a host name"
                .to_owned()
        })
}

/// `group/Kind`, the core group empty, `*` allowed in either part.
fn kind_pattern(pattern: &str) -> Result<(), String> {
    let Some((group, kind)) = pattern.split_once('/') else {
        return Err("is not group/Kind (the core group is empty: /PersistentVolume)".to_owned());
    };
    let group_ok = group.len() <= 253
        && group
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b));
    let kind_ok = !kind.is_empty()
        && kind.len() <= 63
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*');
    if group_ok && kind_ok {
        Ok(())
    } else {
        Err("is not group/Kind: a lowercase API group (or empty) and a kind of letters and digits, * allowed".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked_naming_their_place() {
        let boundary = Boundary {
            hosts: vec![
                "10.0.0.0/8".into(),
                "metadata.internal".into(),
                "::1".into(),
                "10.0.0.0/40".into(),
                "a b".into(),
            ],
            namespaces: vec!["shared-*".into(), "Kube System".into()],
            cluster_kinds: vec![
                "rbac.authorization.k8s.io/ClusterRole".into(),
                "/PersistentVolume".into(),
                "ClusterRole".into(),
            ],
        };
        let fields: Vec<String> = boundary
            .violations("project.boundary")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "project.boundary.namespaces[1]",
                "project.boundary.cluster_kinds[2]",
                "project.boundary.hosts[3]",
                "project.boundary.hosts[4]"
            ]
        );
        assert!(Boundary::default().violations("b").is_empty());
    }
}
