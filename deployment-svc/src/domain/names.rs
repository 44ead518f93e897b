//! Resource names of deployment-svc's own resources (`projects/{p}`, `projects/{p}/scopes/{s}`,
//! ...). Deployment names come from [`eyrie_platform::names::DeploymentName`].

use std::fmt;

use eyrie_platform::{names::split_name, violation::FieldViolation};

pub use eyrie_platform::names::DeploymentName;

/// A project, `projects/{project}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName {
    /// Project slug.
    pub project: String,
}

/// A scope, `projects/{project}/scopes/{scope}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeName {
    /// Project slug.
    pub project: String,
    /// Scope slug.
    pub scope: String,
}

/// A cluster, `projects/{project}/clusters/{cluster}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterName {
    /// Project slug.
    pub project: String,
    /// Cluster slug.
    pub cluster: String,
}

/// A deployment group, `projects/{project}/groups/{group}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName {
    /// Project slug.
    pub project: String,
    /// Group slug.
    pub group: String,
}

impl ProjectName {
    /// The project with slug `project` (already validated).
    pub fn new(project: impl Into<String>) -> Self {
        Self {
            project: project.into(),
        }
    }

    /// Parses the project name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let [project] = split_name(field, value, ["projects"], "projects/{project}")?;
        Ok(Self { project })
    }
}

impl ScopeName {
    /// Parses the scope name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let [project, scope] = split_name(
            field,
            value,
            ["projects", "scopes"],
            "projects/{project}/scopes/{scope}",
        )?;
        Ok(Self { project, scope })
    }

    /// The scope's project.
    pub fn parent(&self) -> ProjectName {
        ProjectName::new(self.project.clone())
    }
}

impl ClusterName {
    /// Parses the cluster name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let [project, cluster] = split_name(
            field,
            value,
            ["projects", "clusters"],
            "projects/{project}/clusters/{cluster}",
        )?;
        Ok(Self { project, cluster })
    }

    /// The cluster's project.
    pub fn parent(&self) -> ProjectName {
        ProjectName::new(self.project.clone())
    }
}

impl GroupName {
    /// Parses the group name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let [project, group] = split_name(
            field,
            value,
            ["projects", "groups"],
            "projects/{project}/groups/{group}",
        )?;
        Ok(Self { project, group })
    }

    /// The group's project.
    pub fn parent(&self) -> ProjectName {
        ProjectName::new(self.project.clone())
    }

    /// The group of a deployment.
    pub fn of(deployment: &DeploymentName) -> Self {
        Self {
            project: deployment.project.clone(),
            group: deployment.group.clone(),
        }
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}", self.project)
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/scopes/{}", self.project, self.scope)
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/clusters/{}", self.project, self.cluster)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/groups/{}", self.project, self.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let scope = ScopeName::parse("scope", "projects/acme/scopes/dev").unwrap();
        assert_eq!(
            (scope.project.as_str(), scope.scope.as_str()),
            ("acme", "dev")
        );
        assert_eq!(scope.to_string(), "projects/acme/scopes/dev");
        let cluster = ClusterName::parse("c", "projects/acme/clusters/eu-1").unwrap();
        assert_eq!(cluster.to_string(), "projects/acme/clusters/eu-1");
        assert_eq!(cluster.parent().to_string(), "projects/acme");
        let group = GroupName::parse("parent", "projects/acme/groups/web").unwrap();
        assert_eq!(group.to_string(), "projects/acme/groups/web");
        assert_eq!(
            ProjectName::parse("name", "projects/acme").unwrap().project,
            "acme"
        );
    }

    #[test]
    fn malformed_names_name_the_field() {
        for bad in [
            "",
            "projects/acme",
            "projects/acme/scope/dev",
            "projects/acme/scopes/Dev",
            "projects/acme/scopes/dev/x",
            "/projects/acme/scopes/dev",
        ] {
            assert_eq!(
                ScopeName::parse("deployment.scope", bad).unwrap_err().field,
                "deployment.scope",
                "{bad:?}"
            );
        }
        assert!(ProjectName::parse("name", "projects/acme/groups/web").is_err());
        assert!(GroupName::parse("parent", "projects/acme/clusters/web").is_err());
    }
}
