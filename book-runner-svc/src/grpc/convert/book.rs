//! Books between the contract and the domain. Prost types stop here.

use std::time::Duration;

use eyrie_platform::status::FieldViolation;
use eyrie_platform::time::to_timestamp as timestamp;
use eyrie_proto::v1 as pb;

use crate::domain::{
    book::{BookFormat, BookSpec, DeploymentType, ParameterSpec, StepSpec},
    books::{BookField, BookName, StoredBook, violation_path},
    render::RenderedStep,
    validate::BookViolation,
};

/// Longest book text accepted (1 MiB).
pub const MAX_SOURCE_LEN: usize = 1 << 20;

/// The lower-case type name of a contract type; empty when unspecified or unknown.
pub fn type_name(value: i32) -> String {
    match pb::DeploymentType::try_from(value) {
        Ok(pb::DeploymentType::Odoo) => DeploymentType::Odoo.as_str().to_owned(),
        Ok(pb::DeploymentType::Pgo) => DeploymentType::Pgo.as_str().to_owned(),
        Ok(pb::DeploymentType::Pxc) => DeploymentType::Pxc.as_str().to_owned(),
        Ok(pb::DeploymentType::None) => DeploymentType::None.as_str().to_owned(),
        Ok(pb::DeploymentType::Unspecified) | Err(_) => String::new(),
    }
}

/// The domain type of a contract type; `None` when unspecified.
pub fn deployment_type(value: i32) -> Option<DeploymentType> {
    DeploymentType::parse(&type_name(value))
}

/// The contract type of a lower-case type name; UNSPECIFIED when unknown.
pub fn type_to_proto(name: &str) -> pb::DeploymentType {
    match DeploymentType::parse(name) {
        Some(DeploymentType::Odoo) => pb::DeploymentType::Odoo,
        Some(DeploymentType::Pgo) => pb::DeploymentType::Pgo,
        Some(DeploymentType::Pxc) => pb::DeploymentType::Pxc,
        Some(DeploymentType::None) => pb::DeploymentType::None,
        None => pb::DeploymentType::Unspecified,
    }
}

/// The content of a structured book, with id `id`, and the problems the conversion found (a
/// timeout that is no duration), each naming its step and field like validation does.
pub fn spec_from_proto(book: pb::Book, id: String) -> (BookSpec, Vec<BookViolation>) {
    let mut problems = Vec::new();
    let deployment_type = type_name(book.r#type);
    let steps = book
        .steps
        .into_iter()
        .enumerate()
        .map(|(index, step)| {
            let timeout = step.timeout.and_then(|timeout| {
                Duration::try_from(timeout)
                    .map_err(|err| {
                        problems.push(BookViolation {
                            step_index: Some(index),
                            step_name: step.name.clone(),
                            field: "timeout".to_owned(),
                            description: format!("is not a valid duration: {err}"),
                        });
                    })
                    .ok()
            });
            StepSpec {
                name: step.name,
                uses: step.uses,
                // Empty means "always runs", as leaving `if` out of a text does.
                condition: Some(step.r#if).filter(|condition| !condition.is_empty()),
                arguments: step.with.into_iter().collect(),
                timeout,
                retries: step.retries,
            }
        })
        .collect();
    let spec = BookSpec {
        name: id,
        display_name: book.display_name,
        description: book.description,
        deployment_type,
        parameters: book
            .parameters
            .into_iter()
            .map(|parameter| ParameterSpec {
                name: parameter.name,
                description: parameter.description,
                required: parameter.required,
                // The contract has no way to say "an empty default": empty means none.
                default: Some(parameter.default_value).filter(|value| !value.is_empty()),
            })
            .collect(),
        steps,
    };
    (spec, problems)
}

/// A book's content as the contract shows it, under resource name `name`.
pub fn spec_to_proto(spec: &BookSpec, name: String) -> pb::Book {
    pb::Book {
        name,
        display_name: spec.display_name.clone(),
        description: spec.description.clone(),
        r#type: type_to_proto(&spec.deployment_type).into(),
        parameters: spec
            .parameters
            .iter()
            .map(|parameter| pb::BookParameter {
                name: parameter.name.clone(),
                description: parameter.description.clone(),
                required: parameter.required,
                default_value: parameter.default.clone().unwrap_or_default(),
            })
            .collect(),
        steps: spec
            .steps
            .iter()
            .map(|step| pb::Step {
                name: step.name.clone(),
                uses: step.uses.clone(),
                r#if: step.condition.clone().unwrap_or_default(),
                with: step.arguments.clone().into_iter().collect(),
                timeout: step.timeout.map(duration_to_proto),
                retries: step.retries,
            })
            .collect(),
        ..pb::Book::default()
    }
}

/// A stored book as the contract shows it.
pub fn book_to_proto(stored: StoredBook) -> pb::Book {
    pb::Book {
        builtin: stored.builtin,
        etag: stored.etag(),
        create_time: Some(timestamp(stored.created_at)),
        update_time: Some(timestamp(stored.updated_at)),
        ..spec_to_proto(&stored.spec, stored.name)
    }
}

/// The text format of request field `field`; UNSPECIFIED or unknown is refused.
pub fn book_format(field: &str, value: i32) -> Result<BookFormat, FieldViolation> {
    match pb::BookFormat::try_from(value) {
        Ok(pb::BookFormat::Yaml) => Ok(BookFormat::Yaml),
        Ok(pb::BookFormat::Json) => Ok(BookFormat::Json),
        Ok(pb::BookFormat::Unspecified) => Err(FieldViolation::new(
            field,
            "is required: BOOK_FORMAT_YAML or BOOK_FORMAT_JSON",
        )),
        Err(_) => Err(FieldViolation::new(
            field,
            format!("{value} is not a known book format"),
        )),
    }
}

/// The contract format of a domain format.
pub fn format_to_proto(format: BookFormat) -> pb::BookFormat {
    match format {
        BookFormat::Yaml => pb::BookFormat::Yaml,
        BookFormat::Json => pb::BookFormat::Json,
    }
}

/// Checks a book text held by request field `field` and returns its format; the text itself is
/// parsed by the caller, which decides what a parse error means.
pub fn source_format(
    field: &str,
    source: &pb::BookSource,
) -> Result<BookFormat, Vec<FieldViolation>> {
    let format = book_format(&format!("{field}.format"), source.format);
    let mut violations = Vec::new();
    if source.text.trim().is_empty() {
        violations.push(FieldViolation::new(format!("{field}.text"), "is required"));
    } else if source.text.len() > MAX_SOURCE_LEN {
        violations.push(FieldViolation::new(
            format!("{field}.text"),
            format!(
                "is {} bytes long; at most {MAX_SOURCE_LEN} are accepted",
                source.text.len()
            ),
        ));
    }
    match format {
        Ok(format) if violations.is_empty() => Ok(format),
        Ok(_) => Err(violations),
        Err(violation) => {
            violations.insert(0, violation);
            Err(violations)
        }
    }
}

/// The paths of an update mask as book fields; an unknown or output-only path is refused.
pub fn mask_fields(mask: Option<prost_types::FieldMask>) -> Result<Vec<BookField>, FieldViolation> {
    let paths = mask.map(|mask| mask.paths).unwrap_or_default();
    paths
        .iter()
        .map(|path| {
            BookField::parse(path).ok_or_else(|| {
                let allowed: Vec<&str> =
                    BookField::ALL.iter().map(|field| field.as_str()).collect();
                FieldViolation::new(
                    "update_mask",
                    format!(
                        "{path:?} cannot be updated; allowed: {}",
                        allowed.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// The action templates see for a contract action; `None` when unspecified.
pub fn action_name(field: &str, value: i32) -> Result<Option<&'static str>, FieldViolation> {
    match pb::OperationAction::try_from(value) {
        Ok(pb::OperationAction::Unspecified) => Ok(None),
        Ok(pb::OperationAction::Deploy) => Ok(Some("deploy")),
        Ok(pb::OperationAction::Pause) => Ok(Some("pause")),
        Ok(pb::OperationAction::Drop) => Ok(Some("drop")),
        Err(_) => Err(FieldViolation::new(
            field,
            format!("{value} is not a known action"),
        )),
    }
}

/// The id of a book named `name` in a request, when it is given; `BookName` rules.
pub fn optional_name(field: &str, name: &str) -> Result<Option<BookName>, FieldViolation> {
    if name.is_empty() {
        Ok(None)
    } else {
        BookName::parse(field, name).map(Some)
    }
}

/// A violation as the contract shows it.
pub fn violation_to_proto(violation: BookViolation) -> pb::BookViolation {
    pb::BookViolation {
        step_index: violation
            .step_index
            .map(|index| u32::try_from(index).unwrap_or(u32::MAX)),
        field: violation_path(&violation),
        step_name: violation.step_name,
        description: violation.description,
    }
}

impl From<RenderedStep> for pb::RenderedStep {
    fn from(step: RenderedStep) -> Self {
        Self {
            step_index: u32::try_from(step.step_index).unwrap_or(u32::MAX),
            step_name: step.step_name,
            uses: step.uses,
            cluster: step.cluster,
            with: step.arguments.into_iter().collect(),
            skipped: step.skipped,
        }
    }
}

fn duration_to_proto(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_round_trip_through_the_contract() {
        let text = "name: web\ntype: none\nparameters:\n  - {name: port, default: \"80\"}\n  - {name: host, required: true}\nsteps:\n  - name: Wait\n    uses: k8s.wait\n    if: deployment.parameters.host != 'x'\n    with: {api_version: v1, kind: Pod, name: p, condition: ready}\n    timeout: 90s\n    retries: 2\n";
        let spec = BookSpec::parse(BookFormat::Yaml, text).unwrap();
        let proto = spec_to_proto(&spec, "books/web".into());
        assert_eq!(proto.r#type(), pb::DeploymentType::None);
        assert_eq!(proto.steps[0].r#if, "deployment.parameters.host != 'x'");
        let (back, problems) = spec_from_proto(proto, "web".into());
        assert_eq!((back, problems), (spec, vec![]));
    }

    #[test]
    fn a_negative_timeout_is_a_violation_of_its_step() {
        let book = pb::Book {
            steps: vec![pb::Step {
                name: "Wait".into(),
                timeout: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (spec, problems) = spec_from_proto(book, "x".into());
        assert_eq!(spec.steps[0].timeout, None);
        assert_eq!(
            spec.steps[0].condition, None,
            "an empty `if` is no condition"
        );
        assert_eq!(violation_path(&problems[0]), "steps[0].timeout");
    }

    #[test]
    fn masks_accept_only_replaceable_fields() {
        let mask = |paths: &[&str]| {
            Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            })
        };
        assert_eq!(
            mask_fields(mask(&["steps", "description"])).unwrap(),
            [BookField::Steps, BookField::Description]
        );
        assert_eq!(mask_fields(None).unwrap(), []);
        for bad in ["type", "etag", "name", "builtin", "stepz"] {
            assert_eq!(
                mask_fields(mask(&[bad])).unwrap_err().field,
                "update_mask",
                "{bad}"
            );
        }
    }

    #[test]
    fn sources_need_a_format_and_a_text() {
        let source = pb::BookSource {
            format: 0,
            text: String::new(),
        };
        let fields: Vec<String> = source_format("source", &source)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["source.format", "source.text"]);
    }
}
