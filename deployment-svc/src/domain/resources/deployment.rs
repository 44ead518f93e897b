//! Deployments: key fields, the rules they follow, field-mask updates and namespaces.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use eyrie_platform::{names::MAX_SLUG_LEN, violation::FieldViolation};
use sha2::{Digest as _, Sha256};

use super::{DeploymentState, DeploymentType, PageRequest, etag_of, type_limits::id_violations};
use crate::domain::{
    names::{ClusterName, DeploymentName, GroupName, ProjectName, ScopeName},
    validation::{
        validate_branch, validate_commit_ref, validate_display_name, validate_image,
        validate_parameter_key, validate_repository,
    },
};

/// The fields whose change records a new version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFields {
    /// Source repository: a URL or `git@host:path`; may be empty where the type allows.
    pub repository: String,
    /// Git branch; may be empty where the type allows.
    pub branch: String,
    /// Container image reference; may be empty where the type allows.
    pub image: String,
    /// Commit or ref the image was built from; free text.
    pub commit_ref: String,
    /// Cluster resource names, in order (order is significant).
    pub clusters: Vec<String>,
    /// Scope resource name.
    pub scope: String,
    /// Values the books read as `deployment.parameters.<key>`.
    pub parameters: BTreeMap<String, String>,
}

/// A field of a deployment that users write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentField {
    /// `display_name` (not a key field).
    DisplayName,
    /// `scope`.
    Scope,
    /// `clusters`.
    Clusters,
    /// `repository`.
    Repository,
    /// `branch`.
    Branch,
    /// `image`.
    Image,
    /// `commit_ref`.
    CommitRef,
    /// `parameters` (the whole map).
    Parameters,
}

impl DeploymentField {
    /// Every field users write, in contract order.
    pub const ALL: [Self; 8] = [
        Self::DisplayName,
        Self::Scope,
        Self::Clusters,
        Self::Repository,
        Self::Branch,
        Self::Image,
        Self::CommitRef,
        Self::Parameters,
    ];

    /// The field's name in the contract, e.g. `commit_ref`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::Scope => "scope",
            Self::Clusters => "clusters",
            Self::Repository => "repository",
            Self::Branch => "branch",
            Self::Image => "image",
            Self::CommitRef => "commit_ref",
            Self::Parameters => "parameters",
        }
    }

    /// Reads one path of `update_mask`.
    pub fn parse(path: &str) -> Result<Self, FieldViolation> {
        if let Some(field) = Self::ALL.into_iter().find(|f| f.as_str() == path) {
            return Ok(field);
        }
        let why = match path {
            "name" | "slug" | "state" | "type" | "namespace" | "last_operation"
            | "running_job_count" | "revision" | "current_version" | "etag" | "create_time"
            | "update_time" => format!("{path} is output only"),
            _ => format!(
                "unknown field {path:?}: use display_name, scope, clusters, repository, branch, image, commit_ref or parameters"
            ),
        };
        Err(FieldViolation::new("update_mask", why))
    }

    /// The request path of this field, e.g. `deployment.image`.
    pub fn path(self) -> String {
        format!("deployment.{}", self.as_str())
    }
}

impl KeyFields {
    /// What is wrong with the format of `fields` (not whether referenced resources exist), for a
    /// deployment of project `project`. Empty repository, branch and image pass here; whether
    /// the group's type needs them is [`Self::type_violations`]'s business.
    pub fn violations(
        &self,
        project: &ProjectName,
        fields: &[DeploymentField],
    ) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        let mut check = |outcome: Result<(), FieldViolation>| {
            if let Err(violation) = outcome {
                violations.push(violation);
            }
        };
        for field in fields {
            let path = field.path();
            match field {
                DeploymentField::DisplayName => {}
                DeploymentField::Scope => check(check_in_project(
                    &path,
                    project,
                    ScopeName::parse(&path, &self.scope).map(|s| s.parent()),
                )),
                DeploymentField::Clusters => {
                    for violation in clusters_violations(project, &self.clusters) {
                        check(Err(violation));
                    }
                }
                DeploymentField::Repository if !self.repository.is_empty() => {
                    check(validate_repository(&path, &self.repository));
                }
                DeploymentField::Branch if !self.branch.is_empty() => {
                    check(validate_branch(&path, &self.branch));
                }
                DeploymentField::Image if !self.image.is_empty() => {
                    check(validate_image(&path, &self.image));
                }
                DeploymentField::CommitRef => check(validate_commit_ref(&path, &self.commit_ref)),
                DeploymentField::Parameters => {
                    for key in self.parameters.keys() {
                        check(validate_parameter_key(&path, key));
                    }
                }
                DeploymentField::Repository | DeploymentField::Branch | DeploymentField::Image => {}
            }
        }
        violations
    }

    /// The fields a deployment of `deployment_type` needs but lacks.
    pub fn type_violations(&self, deployment_type: DeploymentType) -> Vec<FieldViolation> {
        let kind = deployment_type.as_str();
        let mut missing = Vec::new();
        if deployment_type.requires_source() {
            missing.extend(
                [
                    (DeploymentField::Repository, &self.repository),
                    (DeploymentField::Branch, &self.branch),
                ]
                .into_iter()
                .filter(|(_, value)| value.is_empty())
                .map(|(field, _)| field),
            );
        }
        if deployment_type.requires_image() && self.image.is_empty() {
            missing.push(DeploymentField::Image);
        }
        missing
            .into_iter()
            .map(|field| {
                FieldViolation::new(
                    field.path(),
                    format!("is required for a deployment of a {kind} group"),
                )
            })
            .collect()
    }
}

fn check_in_project(
    path: &str,
    project: &ProjectName,
    parent: Result<ProjectName, FieldViolation>,
) -> Result<(), FieldViolation> {
    match parent {
        Ok(parent) if parent == *project => Ok(()),
        Ok(parent) => Err(FieldViolation::new(
            path,
            format!("must belong to the deployment's project {project}, not {parent}"),
        )),
        Err(violation) => Err(violation),
    }
}

fn clusters_violations(project: &ProjectName, clusters: &[String]) -> Vec<FieldViolation> {
    if clusters.is_empty() {
        return vec![FieldViolation::new(
            "deployment.clusters",
            "needs at least one cluster",
        )];
    }
    let mut seen = HashSet::new();
    let mut violations = Vec::new();
    for (index, cluster) in clusters.iter().enumerate() {
        let path = format!("deployment.clusters[{index}]");
        let parsed = ClusterName::parse(&path, cluster).map(|c| c.parent());
        if let Err(violation) = check_in_project(&path, project, parsed) {
            violations.push(violation);
        } else if !seen.insert(cluster.as_str()) {
            violations.push(FieldViolation::new(
                path,
                format!("{cluster} is listed twice"),
            ));
        }
    }
    violations
}

/// The references of `fields` that do not exist: the scope unless `scope_exists`, and each
/// cluster missing from `existing_clusters`. The contract calls them INVALID_ARGUMENT.
pub fn reference_violations(
    fields: &KeyFields,
    scope_exists: bool,
    existing_clusters: &HashSet<String>,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    if !scope_exists {
        violations.push(FieldViolation::new(
            "deployment.scope",
            format!("scope {} does not exist", fields.scope),
        ));
    }
    for (index, cluster) in fields.clusters.iter().enumerate() {
        if !existing_clusters.contains(cluster) {
            violations.push(FieldViolation::new(
                format!("deployment.clusters[{index}]"),
                format!("cluster {cluster} does not exist"),
            ));
        }
    }
    violations
}

/// One running application instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its name.
    pub name: DeploymentName,
    /// Human-readable name.
    pub display_name: String,
    /// Its group's type.
    pub deployment_type: DeploymentType,
    /// The versioned fields.
    pub key_fields: KeyFields,
    /// Lifecycle state.
    pub state: DeploymentState,
    /// Kubernetes namespace, fixed at creation.
    pub namespace: String,
    /// Counter bumped by every change of a stored field; 1 at creation.
    pub revision: i64,
    /// Latest version number version-svc confirmed; 0 until then.
    pub current_version: i64,
    /// Resource name of the latest operation, if any.
    pub last_operation: Option<String>,
    /// Jobs of the deployment queued or running.
    pub running_job_count: i32,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    pub update_time: DateTime<Utc>,
}

impl Deployment {
    /// A new deployment in state draft at revision 1.
    pub fn draft(
        new: &NewDeployment,
        deployment_type: DeploymentType,
        namespace: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            deployment_type,
            key_fields: new.key_fields.clone(),
            state: DeploymentState::Draft,
            namespace,
            revision: 1,
            current_version: 0,
            last_operation: None,
            running_job_count: 0,
            create_time: now,
            update_time: now,
        }
    }

    /// The etag clients send back to update the deployment.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }

    /// Whether it was dropped (no change or action is possible any more).
    pub fn is_dropped(&self) -> bool {
        self.state == DeploymentState::Dropped
    }

    /// Its group.
    pub fn group(&self) -> GroupName {
        GroupName::of(&self.name)
    }
}

/// A deployment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// Its name.
    pub name: DeploymentName,
    /// Human-readable name.
    pub display_name: String,
    /// The versioned fields.
    pub key_fields: KeyFields,
}

impl NewDeployment {
    /// What is wrong with its format (every field).
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut violations: Vec<_> =
            validate_display_name("deployment.display_name", &self.display_name)
                .err()
                .into_iter()
                .collect();
        let project = ProjectName::new(self.name.project.clone());
        violations.extend(self.key_fields.violations(&project, &DeploymentField::ALL));
        violations
    }

    /// What a deployment of `deployment_type` (its group's) cannot be: an id the type's books
    /// cannot name their objects after (reported on request field `deployment_id`), and the
    /// fields the type needs but it lacks.
    pub fn type_violations(&self, deployment_type: DeploymentType) -> Vec<FieldViolation> {
        let mut violations = id_violations(deployment_type, "deployment_id", &self.name.deployment);
        violations.extend(self.key_fields.type_violations(deployment_type));
        violations
    }
}

/// A field-mask update of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentUpdate {
    /// The deployment to change.
    pub name: DeploymentName,
    /// The etag the caller read, when sent.
    pub etag: Option<String>,
    /// The fields to change (the mask), without duplicates.
    pub fields: Vec<DeploymentField>,
    /// New display name (read when in the mask).
    pub display_name: String,
    /// New key fields (each read when in the mask).
    pub key_fields: KeyFields,
}

impl DeploymentUpdate {
    /// What is wrong with the format of the masked fields.
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        if self.fields.contains(&DeploymentField::DisplayName) {
            violations
                .extend(validate_display_name("deployment.display_name", &self.display_name).err());
        }
        let project = ProjectName::new(self.name.project.clone());
        violations.extend(self.key_fields.violations(&project, &self.fields));
        violations
    }

    /// `current` with the masked fields replaced; revision, state and times unchanged.
    pub fn apply(&self, current: &Deployment) -> Deployment {
        let mut next = current.clone();
        let (to, from) = (&mut next.key_fields, &self.key_fields);
        for field in &self.fields {
            match field {
                DeploymentField::DisplayName => next.display_name.clone_from(&self.display_name),
                DeploymentField::Scope => to.scope.clone_from(&from.scope),
                DeploymentField::Clusters => to.clusters.clone_from(&from.clusters),
                DeploymentField::Repository => to.repository.clone_from(&from.repository),
                DeploymentField::Branch => to.branch.clone_from(&from.branch),
                DeploymentField::Image => to.image.clone_from(&from.image),
                DeploymentField::CommitRef => to.commit_ref.clone_from(&from.commit_ref),
                DeploymentField::Parameters => to.parameters.clone_from(&from.parameters),
            }
        }
        next
    }
}

/// Which deployments of a group to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentQuery {
    /// The group.
    pub group: GroupName,
    /// Only this state; `None` for any.
    pub state: Option<DeploymentState>,
    /// Only this scope (resource name); `None` for any.
    pub scope: Option<String>,
    /// Include dropped deployments.
    pub show_dropped: bool,
    /// The page.
    pub page: PageRequest,
}

impl DeploymentQuery {
    /// Whether dropped deployments are listed: when asked for, or when filtering on `dropped`.
    pub fn includes_dropped(&self) -> bool {
        self.show_dropped || self.state == Some(DeploymentState::Dropped)
    }
}

/// The namespaces a new deployment may get, in order of preference: `{project}-{deployment}`
/// when it is a DNS label, then a form shortened to fit with 8 hex digits of a hash of the full
/// name. Two deployments may want the same plain form (`a-b` + `c` and `a` + `b-c`, or equal
/// slugs in two groups), so the store takes the first one that is free.
pub fn namespace_candidates(name: &DeploymentName) -> Vec<String> {
    let plain = format!("{}-{}", name.project, name.deployment);
    let digest = Sha256::digest(name.to_string().as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let room = MAX_SLUG_LEN - suffix.len() - 1;
    let prefix = plain[..plain.len().min(room)].trim_end_matches('-');
    let hashed = format!("{prefix}-{suffix}");
    if plain.len() <= MAX_SLUG_LEN {
        vec![plain, hashed]
    } else {
        vec![hashed]
    }
}

#[cfg(test)]
mod tests;
