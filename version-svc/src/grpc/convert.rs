//! Protobuf messages to and from version-svc's domain. Prost types stop here.

use eyrie_platform::{
    names::DeploymentName,
    status::FieldViolation,
    time::{from_timestamp, to_timestamp},
};
use eyrie_proto::{internal::v1 as internal, v1 as pb};

use crate::domain::{
    ChangeKind, FieldChange, KeyFields, NewVersion, Reason, Version, VersionError,
};

impl TryFrom<internal::RecordVersionRequest> for NewVersion {
    type Error = VersionError;

    fn try_from(request: internal::RecordVersionRequest) -> Result<Self, Self::Error> {
        let mut violations = Vec::new();
        let deployment = DeploymentName::parse("deployment", &request.deployment)
            .map_err(|violation| violations.push(violation))
            .ok();
        if request.revision < 1 {
            violations.push(FieldViolation::new("revision", "must be 1 or more"));
        }
        if request.number < 0 {
            violations.push(FieldViolation::new(
                "number",
                "must be a version number (1 or more), or 0 to let version-svc number it",
            ));
        }
        let reason = reason(request.reason(), request.rollback_to_version)
            .map_err(|violation| violations.push(violation))
            .ok();
        let key_fields = request
            .key_fields
            .map(KeyFields::from)
            .ok_or_else(|| violations.push(FieldViolation::new("key_fields", "is required")))
            .ok();
        let changed_at = request
            .time
            .ok_or_else(|| FieldViolation::new("time", "is required"))
            .and_then(|time| from_timestamp("time", time))
            .map_err(|violation| violations.push(violation))
            .ok();
        match (deployment, key_fields, reason, changed_at) {
            (Some(deployment), Some(key_fields), Some(reason), Some(changed_at))
                if violations.is_empty() =>
            {
                Ok(Self {
                    deployment,
                    revision: request.revision,
                    key_fields,
                    actor: request.actor,
                    reason,
                    changed_at,
                    number: (request.number > 0).then_some(request.number),
                })
            }
            _ => Err(VersionError::Invalid(violations)),
        }
    }
}

fn reason(reason: pb::VersionReason, rollback_to_version: i64) -> Result<Reason, FieldViolation> {
    match reason {
        pb::VersionReason::Unspecified => Err(FieldViolation::new("reason", "is required")),
        pb::VersionReason::Create => Ok(Reason::Create),
        pb::VersionReason::Update => Ok(Reason::Update),
        pb::VersionReason::Rollback if rollback_to_version >= 1 => Ok(Reason::Rollback {
            to_version: rollback_to_version,
        }),
        pb::VersionReason::Rollback => Err(FieldViolation::new(
            "rollback_to_version",
            "must name the version rolled back to (1 or more) when reason is ROLLBACK",
        )),
    }
}

impl From<pb::KeyFields> for KeyFields {
    fn from(fields: pb::KeyFields) -> Self {
        Self {
            repository: fields.repository,
            branch: fields.branch,
            image: fields.image,
            commit_ref: fields.commit_ref,
            clusters: fields.clusters,
            scope: fields.scope,
            parameters: fields.parameters.into_iter().collect(),
        }
    }
}

impl From<KeyFields> for pb::KeyFields {
    fn from(fields: KeyFields) -> Self {
        Self {
            repository: fields.repository,
            branch: fields.branch,
            image: fields.image,
            commit_ref: fields.commit_ref,
            clusters: fields.clusters,
            scope: fields.scope,
            parameters: fields.parameters.into_iter().collect(),
        }
    }
}

impl From<Version> for pb::DeploymentVersion {
    fn from(version: Version) -> Self {
        let (reason, rollback_to_version) = match version.reason {
            Reason::Create => (pb::VersionReason::Create, 0),
            Reason::Update => (pb::VersionReason::Update, 0),
            Reason::Rollback { to_version } => (pb::VersionReason::Rollback, to_version),
        };
        Self {
            name: version.name().to_string(),
            number: version.number,
            revision: version.revision,
            key_fields: Some(version.key_fields.into()),
            changed_fields: version.changed_fields,
            actor: version.actor,
            reason: reason.into(),
            rollback_to_version,
            create_time: Some(to_timestamp(version.created_at)),
        }
    }
}

impl From<FieldChange> for pb::FieldChange {
    fn from(change: FieldChange) -> Self {
        let kind = match change.kind {
            ChangeKind::Added => pb::ChangeKind::Added,
            ChangeKind::Removed => pb::ChangeKind::Removed,
            ChangeKind::Modified => pb::ChangeKind::Modified,
        };
        Self {
            field: change.field,
            kind: kind.into(),
            old_value: change.old_value,
            new_value: change.new_value,
        }
    }
}
