//! Roles on projects and what a caller holds.

use std::collections::BTreeMap;

use crate::store::StoredToken;

/// A role on one project. Each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read and watch everything in the project.
    Viewer,
    /// Also Deploy and Pause, update deployments, cancel and retry jobs.
    Deployer,
    /// Everything in the project.
    Admin,
}

impl Role {
    /// The role stored under `name` (`viewer`, `deployer`, `admin`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "viewer" => Some(Self::Viewer),
            "deployer" => Some(Self::Deployer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The role's name, as stored and shown in refusals.
    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Deployer => "deployer",
            Self::Admin => "admin",
        }
    }
}

/// Everything one token may do: global admin, or roles by project slug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    global_admin: bool,
    projects: BTreeMap<String, Role>,
}

impl Grants {
    /// The grants of a stored token. Bindings with an unknown role grant nothing.
    pub fn of(token: &StoredToken) -> Self {
        let projects = token
            .bindings
            .iter()
            .filter_map(|(project, role)| {
                let slug = project.strip_prefix("projects/")?;
                Some((slug.to_owned(), Role::parse(role)?))
            })
            .collect();
        Self {
            global_admin: token.token.global_admin,
            projects,
        }
    }

    /// Grants of a global admin.
    pub fn global_admin() -> Self {
        Self {
            global_admin: true,
            projects: BTreeMap::new(),
        }
    }

    /// Grants of one role on each listed project.
    pub fn roles<'a>(roles: impl IntoIterator<Item = (&'a str, Role)>) -> Self {
        Self {
            global_admin: false,
            projects: roles
                .into_iter()
                .map(|(slug, role)| (slug.to_owned(), role))
                .collect(),
        }
    }

    /// Whether this is a global admin, who may do everything.
    pub fn is_global_admin(&self) -> bool {
        self.global_admin
    }

    /// Whether the caller holds `role` (or a higher one) on project `slug`.
    pub fn allows(&self, slug: &str, role: Role) -> bool {
        self.global_admin || self.projects.get(slug).is_some_and(|held| *held >= role)
    }

    /// Whether the caller holds `role` (or a higher one) on some project, or is a global admin.
    pub fn holds_anywhere(&self, role: Role) -> bool {
        self.global_admin || self.projects.values().any(|held| *held >= role)
    }

    /// The projects the caller holds any role on, ordered by slug.
    pub fn visible_projects(&self) -> impl Iterator<Item = &str> {
        self.projects.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_roles_include_lower_ones() {
        let grants = Grants::roles([("acme", Role::Deployer)]);
        assert!(grants.allows("acme", Role::Viewer));
        assert!(grants.allows("acme", Role::Deployer));
        assert!(!grants.allows("acme", Role::Admin));
        assert!(!grants.allows("other", Role::Viewer));
        assert!(Grants::global_admin().allows("any", Role::Admin));
    }

    #[test]
    fn a_role_anywhere_is_the_highest_held_on_any_project() {
        let grants = Grants::roles([("acme", Role::Viewer), ("shop", Role::Deployer)]);
        assert!(grants.holds_anywhere(Role::Deployer));
        assert!(!grants.holds_anywhere(Role::Admin));
        assert!(!Grants::default().holds_anywhere(Role::Viewer));
        assert!(Grants::global_admin().holds_anywhere(Role::Admin));
    }
}
