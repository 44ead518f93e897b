//! Checking a book before it is stored or run: every problem, with the step and field named.

use std::collections::HashSet;

use eyrie_platform::names::validate_slug;

use super::{
    book::{BookSpec, StepSpec},
    manifest::{label_map, parse_documents, parse_object},
    snapshot::sample_snapshot,
    step_kind::StepKind,
    template::{TemplateContext, Templates},
};
use crate::cluster::{Condition, ObjectRef, WaitSpec};

/// One problem of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookViolation {
    /// Index of the step at fault, if a step is.
    pub step_index: Option<usize>,
    /// Its name.
    pub step_name: String,
    /// The field, e.g. `uses`, `with.manifest`, `parameters[1].name`.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl std::fmt::Display for BookViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step_index {
            Some(index) => write!(
                f,
                "step {} ({:?}) {}: {}",
                index + 1,
                self.step_name,
                self.field,
                self.description
            ),
            None => write!(f, "{}: {}", self.field, self.description),
        }
    }
}

/// Longest a step may be given.
const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
/// Most retries a step may ask for.
const MAX_RETRIES: u32 = 20;

/// Every problem of `book`; empty when it is valid.
pub fn validate(book: &BookSpec, templates: &Templates) -> Vec<BookViolation> {
    let mut violations = Vec::new();
    let mut book_level = |field: &str, description: String| {
        violations.push(BookViolation {
            step_index: None,
            step_name: String::new(),
            field: field.to_owned(),
            description,
        });
    };
    if let Err(violation) = validate_slug("name", &book.name) {
        book_level("name", violation.description);
    }
    if book.known_type().is_none() {
        book_level(
            "type",
            format!(
                "{:?} is not one of odoo, pgo, pxc, none",
                book.deployment_type
            ),
        );
    }
    let mut names = HashSet::new();
    for (index, parameter) in book.parameters.iter().enumerate() {
        let field = format!("parameters[{index}].name");
        if !is_identifier(&parameter.name) {
            book_level(
                &field,
                format!(
                    "{:?} must be a lowercase identifier (a-z, 0-9, _)",
                    parameter.name
                ),
            );
        } else if !names.insert(parameter.name.as_str()) {
            book_level(&field, format!("{:?} is declared twice", parameter.name));
        }
        if parameter.required && parameter.default.is_some() {
            book_level(
                &format!("parameters[{index}].default"),
                "a required parameter has no default".to_owned(),
            );
        }
    }
    if book.steps.is_empty() {
        book_level("steps", "a book needs at least one step".to_owned());
    }

    // Templates are rendered against a sample deployment that has exactly the declared
    // parameters, so a reference to an undeclared one fails here rather than at run time.
    let sample_parameters: Vec<(&str, String)> = book
        .parameters
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.default
                    .clone()
                    .unwrap_or_else(|| format!("sample-{}", p.name)),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = sample_parameters
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let sample = sample_snapshot(&borrowed);
    let context = TemplateContext::new(&sample, &sample.clusters[0], "deploy");
    let mut step_names = HashSet::new();
    for (index, step) in book.steps.iter().enumerate() {
        let mut found = validate_step(index, step, templates, &context);
        if !step.name.trim().is_empty() && !step_names.insert(step.name.as_str()) {
            found.insert(
                0,
                BookViolation {
                    step_index: Some(index),
                    step_name: step.name.clone(),
                    field: "name".to_owned(),
                    description: format!(
                        "{:?} is the name of an earlier step too; step names are unique in a book",
                        step.name
                    ),
                },
            );
        }
        violations.extend(found);
    }
    violations
}

fn validate_step(
    index: usize,
    step: &StepSpec,
    templates: &Templates,
    context: &TemplateContext<'_>,
) -> Vec<BookViolation> {
    let mut violations = Vec::new();
    let mut violation = |field: &str, description: String| {
        violations.push(BookViolation {
            step_index: Some(index),
            step_name: step.name.clone(),
            field: field.to_owned(),
            description,
        });
    };
    if step.name.trim().is_empty() {
        violation("name", "a step needs a name".to_owned());
    }
    if step.timeout.is_some_and(|t| t.is_zero() || t > MAX_TIMEOUT) {
        violation(
            "timeout",
            format!(
                "must be more than 0s and at most {}h",
                MAX_TIMEOUT.as_secs() / 3600
            ),
        );
    }
    if step.retries > MAX_RETRIES {
        violation("retries", format!("must be at most {MAX_RETRIES}"));
    }
    if let Some(expression) = &step.condition
        && let Err(description) = check_condition(expression, templates, context)
    {
        violation("if", description);
    }
    let Some(kind) = StepKind::parse(&step.uses) else {
        violation(
            "uses",
            format!(
                "unknown step kind {:?}; known kinds: {}",
                step.uses,
                StepKind::names()
            ),
        );
        return violations;
    };
    for required in kind.required_arguments() {
        if !step.arguments.contains_key(required) {
            violation(
                &format!("with.{required}"),
                format!("{} needs this argument", kind.as_str()),
            );
        }
    }
    let mut rendered = std::collections::BTreeMap::new();
    for (key, source) in &step.arguments {
        let field = format!("with.{key}");
        if !kind.accepts(key) {
            violation(
                &field,
                format!("{} takes no argument {key:?}", kind.as_str()),
            );
            continue;
        }
        match templates.unknown_names(source) {
            Err(err) => violation(&field, format!("template does not parse: {err}")),
            Ok(unknown) if !unknown.is_empty() => violation(
                &field,
                format!("template uses unknown name(s) {}", unknown.join(", ")),
            ),
            Ok(_) => match templates.render_argument(key, source, context) {
                Ok(value) => {
                    rendered.insert(key.as_str(), value);
                }
                Err(err) => violation(&field, format!("template does not render: {err}")),
            },
        }
    }
    for (field, description) in check_rendered(kind, &rendered) {
        violation(&field, description);
    }
    violations
}

/// Checks an `if` expression as arguments are checked: it parses, uses known names only, and
/// evaluates for the sample deployment (which has exactly the declared parameters).
fn check_condition(
    expression: &str,
    templates: &Templates,
    context: &TemplateContext<'_>,
) -> Result<(), String> {
    if expression.trim().is_empty() {
        return Err("is empty; leave `if` out for a step that always runs".to_owned());
    }
    match templates.unknown_names_in_condition(expression) {
        Err(err) => Err(format!("expression does not parse: {err}")),
        Ok(unknown) if !unknown.is_empty() => Err(format!(
            "expression uses unknown name(s) {}",
            unknown.join(", ")
        )),
        Ok(_) => templates
            .condition_holds(expression, context)
            .map(|_| ())
            .map_err(|err| format!("expression does not evaluate: {err}")),
    }
}

/// Kind-specific checks of rendered (sample) arguments: manifests that parse, conditions that
/// exist, numbers that are numbers.
fn check_rendered(
    kind: StepKind,
    rendered: &std::collections::BTreeMap<&str, String>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem =
        |key: &str, description: String| problems.push((format!("with.{key}"), description));
    if let Some(manifest) = rendered.get("manifest") {
        match parse_documents(manifest) {
            Err(err) => problem("manifest", format!("is not valid YAML: {err}")),
            Ok(documents) if documents.is_empty() => {
                problem("manifest", "holds no object".to_owned())
            }
            Ok(documents) => {
                for (position, document) in documents.iter().enumerate() {
                    if let Err(err) = ObjectRef::of_manifest(document) {
                        problem("manifest", format!("document {}: {err}", position + 1));
                    }
                }
                if kind == StepKind::Job && (documents.len() != 1 || documents[0]["kind"] != "Job")
                {
                    problem(
                        "manifest",
                        "k8s.job runs exactly one object of kind Job".to_owned(),
                    );
                }
            }
        }
    }
    if let Some(patch) = rendered.get("patch")
        && let Err(err) = parse_object(patch)
    {
        problem("patch", err);
    }
    if let Some(labels) = rendered.get("labels")
        && let Err(err) = label_map(labels)
    {
        problem("labels", err);
    }
    if let Some(condition) = rendered.get("condition")
        && let Err(err) = Condition::parse(condition)
    {
        problem("condition", err);
    }
    if let Some(fail_when) = rendered.get("fail_when")
        && let Err(err) = WaitSpec::parse_fail_when(fail_when)
    {
        problem("fail_when", err);
    }
    for flag in ["force"] {
        if let Some(value) = rendered.get(flag)
            && !matches!(value.trim(), "true" | "false")
        {
            problem(flag, format!("must be true or false, not {value:?}"));
        }
    }
    if let Some(length) = rendered.get("length")
        && !length
            .trim()
            .parse::<usize>()
            .is_ok_and(|n| (8..=256).contains(&n))
    {
        problem(
            "length",
            format!("must be a whole number from 8 to 256, not {length:?}"),
        );
    }
    if let Some(keys) = rendered.get("keys")
        && keys.split(',').any(|key| key.trim().is_empty())
    {
        problem(
            "keys",
            "must be a comma-separated list of non-empty keys".to_owned(),
        );
    }
    if let Some(url) = rendered.get("url")
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problem(
            "url",
            format!("must start with http:// or https://, not {url:?}"),
        );
    }
    if let Some(status) = rendered.get("expect_status")
        && !status
            .trim()
            .parse::<u16>()
            .is_ok_and(|s| (100..600).contains(&s))
    {
        problem(
            "expect_status",
            format!("must be an HTTP status code, not {status:?}"),
        );
    }
    problems
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests;
