//! Resource names of the public API (`projects/{p}/groups/{g}/deployments/{d}`, ...) and the
//! slugs they are made of.
//!
//! Every service parses names the same way, so a name refused by one is refused by all, with a
//! violation naming the request field.

use std::fmt;

use crate::status::FieldViolation;

/// Longest DNS-1123 label: slugs become Kubernetes namespaces and object names.
pub const MAX_SLUG_LEN: usize = 63;

/// Longest request id (idempotency key), in characters.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// An optional idempotency key: at most 64 printable characters, the same in every service.
pub fn validate_request_id(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.chars().count() > MAX_REQUEST_ID_LEN {
        Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_REQUEST_ID_LEN} characters"),
        ))
    } else if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Err(FieldViolation::new(
            field,
            "must not contain whitespace or control characters",
        ))
    } else {
        Ok(())
    }
}

/// Checks that `value` is a DNS-1123 label: 1 to 63 of `a-z`, `0-9`, `-`, starting and ending
/// with a letter or digit.
pub fn validate_slug(field: &str, value: &str) -> Result<(), FieldViolation> {
    let well_formed = !value.is_empty()
        && value.len() <= MAX_SLUG_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(FieldViolation::new(
            field,
            format!(
                "{value:?} is not a valid id: use 1 to {MAX_SLUG_LEN} lowercase letters, digits and '-', \
                 starting and ending with a letter or digit (a DNS-1123 label)"
            ),
        ))
    }
}

/// A deployment, `projects/{project}/groups/{group}/deployments/{deployment}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentName {
    /// Project slug.
    pub project: String,
    /// Deployment group slug.
    pub group: String,
    /// Deployment slug.
    pub deployment: String,
}

impl DeploymentName {
    /// Parses the deployment name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let [project, group, deployment] = split_name(
            field,
            value,
            ["projects", "groups", "deployments"],
            DEPLOYMENT_PATTERN,
        )?;
        Ok(Self {
            project,
            group,
            deployment,
        })
    }
}

impl fmt::Display for DeploymentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "projects/{}/groups/{}/deployments/{}",
            self.project, self.group, self.deployment
        )
    }
}

const DEPLOYMENT_PATTERN: &str = "projects/{project}/groups/{group}/deployments/{deployment}";
const VERSION_PATTERN: &str =
    "projects/{project}/groups/{group}/deployments/{deployment}/versions/{number}";

/// A version of a deployment, `.../deployments/{deployment}/versions/{number}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionName {
    /// The deployment.
    pub deployment: DeploymentName,
    /// Version number, 1 or more.
    pub number: i64,
}

impl VersionName {
    /// Parses the version name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let (parent, number) = value
            .rsplit_once("/versions/")
            .ok_or_else(|| malformed(field, value, VERSION_PATTERN))?;
        let deployment = DeploymentName::parse(field, parent)
            .map_err(|_| malformed(field, value, VERSION_PATTERN))?;
        let number = number
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1 && !number.starts_with('+') && !number.starts_with('0'))
            .ok_or_else(|| {
                FieldViolation::new(
                    field,
                    format!("version number {number:?} must be a whole number >= 1"),
                )
            })?;
        Ok(Self { deployment, number })
    }
}

impl fmt::Display for VersionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/versions/{}", self.deployment, self.number)
    }
}

/// A job of a deployment, `.../deployments/{deployment}/jobs/{job}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobName {
    /// The deployment.
    pub deployment: DeploymentName,
    /// Job id.
    pub job: String,
}

const JOB_PATTERN: &str = "projects/{project}/groups/{group}/deployments/{deployment}/jobs/{job}";

impl JobName {
    /// Parses the job name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let (parent, job) = value
            .rsplit_once("/jobs/")
            .ok_or_else(|| malformed(field, value, JOB_PATTERN))?;
        let deployment = DeploymentName::parse(field, parent)
            .map_err(|_| malformed(field, value, JOB_PATTERN))?;
        validate_slug(field, job)?;
        Ok(Self {
            deployment,
            job: job.to_owned(),
        })
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/jobs/{}", self.deployment, self.job)
    }
}

/// Which deployments a list of a deployment's children covers: one deployment, or every
/// deployment of a group or project when `-` stands for the group or deployment id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentScope {
    /// Exactly this deployment.
    One(DeploymentName),
    /// Every deployment whose name starts with this prefix.
    Prefix(String),
}

impl DeploymentScope {
    /// Parses `projects/{p}/groups/{g|-}/deployments/{d|-}` held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let parts: Vec<&str> = value.split('/').collect();
        match parts.as_slice() {
            ["projects", project, "groups", "-", "deployments", "-"] => {
                validate_slug(field, project)?;
                Ok(Self::Prefix(format!("projects/{project}/groups/")))
            }
            ["projects", project, "groups", group, "deployments", "-"] => {
                validate_slug(field, project)?;
                validate_slug(field, group)?;
                Ok(Self::Prefix(format!(
                    "projects/{project}/groups/{group}/deployments/"
                )))
            }
            _ => DeploymentName::parse(field, value).map(Self::One),
        }
    }
}

/// Splits a resource name `collection/id/collection/id/...` into its `N` ids, checking each
/// collection word and each id; violations name `field` and show the expected `pattern`.
pub fn split_name<const N: usize>(
    field: &str,
    value: &str,
    collections: [&str; N],
    pattern: &str,
) -> Result<[String; N], FieldViolation> {
    if value.is_empty() {
        return Err(FieldViolation::new(
            field,
            format!("is required, as {pattern}"),
        ));
    }
    let parts: Vec<&str> = value.split('/').collect();
    if parts.len() != N * 2 {
        return Err(malformed(field, value, pattern));
    }
    let mut ids: [String; N] = std::array::from_fn(|_| String::new());
    for ((pair, collection), id) in parts.chunks(2).zip(collections).zip(ids.iter_mut()) {
        if pair[0] != collection {
            return Err(malformed(field, value, pattern));
        }
        validate_slug(field, pair[1])?;
        pair[1].clone_into(id);
    }
    Ok(ids)
}

fn malformed(field: &str, value: &str, pattern: &str) -> FieldViolation {
    FieldViolation::new(
        field,
        format!("{value:?} is not a resource name of the form {pattern}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_and_deployment_scopes_parse() {
        let job =
            JobName::parse("name", "projects/a/groups/g/deployments/d/jobs/0193abcd").unwrap();
        assert_eq!(job.job, "0193abcd");
        assert_eq!(
            job.to_string(),
            "projects/a/groups/g/deployments/d/jobs/0193abcd"
        );
        assert_eq!(
            JobName::parse("name", "projects/a/groups/g/deployments/d")
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            DeploymentScope::parse("parent", "projects/a/groups/-/deployments/-").unwrap(),
            DeploymentScope::Prefix("projects/a/groups/".into())
        );
        assert_eq!(
            DeploymentScope::parse("parent", "projects/a/groups/g/deployments/-").unwrap(),
            DeploymentScope::Prefix("projects/a/groups/g/deployments/".into())
        );
        assert!(matches!(
            DeploymentScope::parse("parent", "projects/a/groups/g/deployments/d").unwrap(),
            DeploymentScope::One(_)
        ));
        assert!(DeploymentScope::parse("parent", "projects/a/groups/-/deployments/d").is_err());
    }

    #[test]
    fn slugs_are_dns_labels() {
        for good in ["a", "shop", "odoo-17", "0day", &"a".repeat(63)] {
            assert!(validate_slug("id", good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "Shop",
            "-shop",
            "shop-",
            "sh_op",
            "sh.op",
            "é",
            &"a".repeat(64),
        ] {
            let violation = validate_slug("project_id", bad).unwrap_err();
            assert_eq!(violation.field, "project_id", "{bad:?}");
        }
    }

    #[test]
    fn deployment_names_round_trip() {
        let name =
            DeploymentName::parse("parent", "projects/acme/groups/web/deployments/shop").unwrap();
        assert_eq!(name.project, "acme");
        assert_eq!(name.group, "web");
        assert_eq!(name.deployment, "shop");
        assert_eq!(
            name.to_string(),
            "projects/acme/groups/web/deployments/shop"
        );
    }

    #[test]
    fn malformed_deployment_names_name_the_field() {
        for bad in [
            "",
            "projects/acme",
            "projects/acme/groups/web/deployments",
            "projects/acme/groups/web/deployment/shop",
            "projects/acme/groups/web/deployments/Shop",
            "projects/acme/groups/web/deployments/shop/versions/1",
            "/projects/acme/groups/web/deployments/shop",
        ] {
            let violation = DeploymentName::parse("parent", bad).unwrap_err();
            assert_eq!(violation.field, "parent", "{bad:?}");
        }
    }

    #[test]
    fn version_names_parse_numbers_from_one() {
        let name = VersionName::parse(
            "name",
            "projects/acme/groups/web/deployments/shop/versions/12",
        )
        .unwrap();
        assert_eq!(name.number, 12);
        assert_eq!(name.deployment.deployment, "shop");
        assert_eq!(
            name.to_string(),
            "projects/acme/groups/web/deployments/shop/versions/12"
        );
        for bad in [
            "projects/acme/groups/web/deployments/shop/versions/0",
            "projects/acme/groups/web/deployments/shop/versions/-1",
            "projects/acme/groups/web/deployments/shop/versions/01",
            "projects/acme/groups/web/deployments/shop/versions/x",
            "projects/acme/groups/web/deployments/shop/versions/",
            "projects/acme/groups/web/deployments/shop",
            "projects/acme/groups/web/versions/1",
        ] {
            assert_eq!(
                VersionName::parse("from", bad).unwrap_err().field,
                "from",
                "{bad:?}"
            );
        }
    }
}
