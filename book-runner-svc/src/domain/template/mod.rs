//! Rendering book arguments: Jinja templates in strict mode over a deployment snapshot.
//!
//! Printed values are data: see [`Templates`].
//!
//! Strict means an undefined name or attribute is an error, never an empty string: a typo in a
//! book must fail its validation, not apply a manifest with a blank image.

mod condition;
mod shape;
mod yaml_value;

use std::{borrow::Cow, collections::BTreeMap};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

pub use self::condition::false_condition;
use self::shape::NodeKind;
use super::{
    snapshot::{ClusterFacts, Snapshot},
    step_kind::ArgumentForm,
};

/// Top-level names a template may use.
pub const CONTEXT_NAMES: [&str; 9] = [
    "deployment",
    "project",
    "group",
    "scope",
    "cluster",
    "namespace",
    "version",
    "revision",
    "action",
];

/// The values one rendering sees.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext<'a> {
    deployment: &'a super::snapshot::DeploymentFacts,
    project: &'a super::snapshot::NamedFacts,
    group: &'a super::snapshot::GroupFacts,
    scope: &'a super::snapshot::ScopeFacts,
    // Left out (so undefined to templates) in a preview without cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterContext<'a>>,
    namespace: &'a str,
    version: i64,
    revision: i64,
    // Left out (so undefined to templates) in a preview without action.
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
}

/// What templates see of a cluster: never its connection details.
#[derive(Debug, Clone, Serialize)]
struct ClusterContext<'a> {
    name: &'a str,
    slug: &'a str,
    display_name: &'a str,
    driver: &'static str,
}

impl<'a> TemplateContext<'a> {
    /// The context of a step running on `cluster` for `action`.
    pub fn new(snapshot: &'a Snapshot, cluster: &'a ClusterFacts, action: &'a str) -> Self {
        Self::preview(snapshot, Some(cluster), Some(action))
    }

    /// The context of a dry run, where the cluster or the action may be unknown: templates then
    /// see `cluster` or `action` as undefined (an error in strict mode if they use it).
    pub fn preview(
        snapshot: &'a Snapshot,
        cluster: Option<&'a ClusterFacts>,
        action: Option<&'a str>,
    ) -> Self {
        Self {
            deployment: &snapshot.deployment,
            project: &snapshot.project,
            group: &snapshot.group,
            scope: &snapshot.scope,
            cluster: cluster.map(|cluster| ClusterContext {
                name: &cluster.name,
                slug: &cluster.slug,
                display_name: &cluster.display_name,
                driver: cluster.connection.driver(),
            }),
            namespace: &snapshot.namespace,
            version: snapshot.version,
            revision: snapshot.revision,
            action,
        }
    }
}

/// Most fuel (roughly, template instructions) one argument may burn: a hundred times what the
/// largest built-in book needs, so that a loop bomb ends in milliseconds with an error.
pub const FUEL: u64 = 500_000;
/// Largest rendered text of one argument.
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// Renders templates; one per process is enough (it holds no per-book state).
///
/// Every value a template prints comes out as YAML data: a string as one double-quoted scalar
/// of the same text (whatever quotes, newlines, `---` or `#` it holds), a list or map as a flow
/// collection of the same, a number as itself. Each rendered argument is then read back and
/// refused unless it has exactly the structure of the template's own text.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Custom, so that `escape` goes through the formatter too; the formatter ignores the
        // mode, so `{% autoescape false %}` changes nothing either.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Custom(Cow::Borrowed("yaml")));
        env.set_formatter(yaml_value::format);
        env.set_fuel(Some(FUEL));
        // `safe` would print a user's text as YAML syntax: the one way around the formatter.
        env.add_filter(
            "safe",
            |_: minijinja::Value| -> Result<minijinja::Value, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "books print every value as YAML data; the safe filter is not available",
                ))
            },
        );
        env.add_filter("sql_identifier", sql_identifier);
        // Keep a manifest's final newline, so rendered YAML stays as written.
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        Self { env }
    }
}

impl Templates {
    /// Renders the argument `key` of a step from its template `source`: the text of a
    /// [`ArgumentForm::Documents`] or [`ArgumentForm::Mapping`] argument, the value of a
    /// [`ArgumentForm::Scalar`] one.
    pub fn render_argument(
        &self,
        key: &str,
        source: &str,
        context: &TemplateContext<'_>,
    ) -> Result<String, String> {
        let (skeleton, printed) = self.render_skeleton(source, context)?;
        let rendered = yaml_value::substitute(&skeleton, &printed).ok_or(
            "a printed value was taken apart after it was printed (a filter on a block's text?)",
        )?;
        if rendered.len() > MAX_OUTPUT {
            return Err(too_large());
        }
        let nodes = shape::check(&skeleton, &rendered, &printed)?;
        match ArgumentForm::of(key) {
            ArgumentForm::Documents => Ok(rendered),
            ArgumentForm::Mapping => match nodes.as_slice() {
                [] => Ok(rendered),
                [_, first, ..]
                    if first.kind == NodeKind::MappingStart
                        && nodes
                            .iter()
                            .filter(|n| n.kind == NodeKind::DocumentStart)
                            .count()
                            == 1 =>
                {
                    Ok(rendered)
                }
                _ => Err(
                    "must be one YAML mapping, e.g. {app.kubernetes.io/part-of: shop}".to_owned(),
                ),
            },
            ArgumentForm::Scalar => match nodes.as_slice() {
                [] => Ok(String::new()),
                [start, node, end]
                    if start.kind == NodeKind::DocumentStart
                        && end.kind == NodeKind::DocumentEnd =>
                {
                    match &node.kind {
                        NodeKind::Scalar(value) => Ok(value.to_string()),
                        _ => Err(ONE_VALUE.to_owned()),
                    }
                }
                _ => Err(ONE_VALUE.to_owned()),
            },
        }
    }

    /// Renders `source` with a placeholder for every printed string, and the strings.
    fn render_skeleton(
        &self,
        source: &str,
        context: &TemplateContext<'_>,
    ) -> Result<(String, Vec<String>), String> {
        if source.contains([yaml_value::OPEN, yaml_value::CLOSE]) {
            return Err(
                "holds the private-use characters U+E000 or U+E001, which templates may not use"
                    .to_owned(),
            );
        }
        let template = self
            .env
            .template_from_str(source)
            .map_err(|err| describe(&err, source))?;
        let mut output = Bounded::default();
        let captured = template
            .render_captured_to(
                minijinja::Value::from(minijinja::value::Serde(context)),
                &mut output,
            )
            .map_err(|err| {
                if output.exceeded {
                    too_large()
                } else {
                    describe(&err, source)
                }
            })?;
        let printed = captured
            .state()
            .get_extension::<yaml_value::Printed>()
            .map(|printed| printed.0.clone())
            .unwrap_or_default();
        drop(captured);
        let skeleton =
            String::from_utf8(output.bytes).map_err(|_| "rendered text is not UTF-8".to_owned())?;
        Ok((skeleton, printed))
    }

    /// Top-level names `source` uses that the context does not define, or a syntax error.
    pub fn unknown_names(&self, source: &str) -> Result<Vec<String>, String> {
        let template = self
            .env
            .template_from_str(source)
            .map_err(|err| describe(&err, source))?;
        Ok(outside_context(template.undeclared_variables(false)))
    }

    /// Renders every argument of a step.
    pub fn render_arguments(
        &self,
        arguments: &BTreeMap<String, String>,
        context: &TemplateContext<'_>,
    ) -> Result<BTreeMap<String, String>, (String, String)> {
        arguments
            .iter()
            .map(|(key, source)| {
                self.render_argument(key, source, context)
                    .map(|value| (key.clone(), value))
                    .map_err(|err| (key.clone(), err))
            })
            .collect()
    }
}

/// `name` as a quoted SQL identifier (PostgreSQL, MySQL in ANSI mode): a parameter that names
/// a database or a role is never SQL.
fn sql_identifier(name: &str) -> Result<String, minijinja::Error> {
    if name.is_empty() || name.contains('\0') {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "an SQL identifier is not empty and holds no NUL character",
        ));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// What a scalar argument must be.
const ONE_VALUE: &str = "must be one value (a name, a number, a condition), not YAML structure";

fn too_large() -> String {
    format!("renders more than {} KiB", MAX_OUTPUT / 1024)
}

/// Collects rendered text up to [`MAX_OUTPUT`], failing the render past it.
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    exceeded: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.exceeded = true;
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A template error in one line: what went wrong, and the template line where it did.
fn describe(err: &minijinja::Error, source: &str) -> String {
    let mut text = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(number) = err.line() {
        let line = source
            .lines()
            .nth(number.saturating_sub(1))
            .unwrap_or_default()
            .trim();
        text = format!("{text} at line {number}: `{line}`");
    }
    text
}

/// The names of `names` that the context does not define, sorted: what validation refuses.
fn outside_context(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|name| !CONTEXT_NAMES.contains(&name.as_str()))
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::snapshot::sample_snapshot;

    fn render(key: &str, source: &str, parameters: &[(&str, &str)]) -> Result<String, String> {
        let snapshot = sample_snapshot(parameters);
        let context = TemplateContext::new(&snapshot, &snapshot.clusters[0], "deploy");
        Templates::default().render_argument(key, source, &context)
    }

    #[test]
    fn values_print_as_quoted_yaml_scalars() {
        let rendered = render(
            "manifest",
            "image: {{ deployment.image }}\nhost: {{ deployment.parameters.db_host }}\nv: {{ version }}\nns: {{ namespace ~ \"-x\" }}\nc: {{ deployment.clusters }}\n",
            &[("db_host", "pg")],
        )
        .unwrap();
        assert_eq!(
            rendered,
            "image: \"registry.example/app:1.0\"\nhost: \"pg\"\nv: 1\nns: \"sample-ns-x\"\nc: [\"projects/sample/clusters/sample\"]\n"
        );
    }

    #[test]
    fn a_value_cannot_become_structure() {
        let hostile =
            "/x\"\n  securityContext:\n    privileged: true\n  startupProbe:\n    path: \"/y";
        let rendered = render(
            "manifest",
            "probe:\n  path: {{ deployment.parameters.health_path }}\n",
            &[("health_path", hostile)],
        )
        .unwrap();
        let parsed: serde_json::Value = serde_saphyr::from_str(&rendered).unwrap();
        assert_eq!(parsed, serde_json::json!({"probe": {"path": hostile}}));
        // Only the engine's own text may be structure: `safe` is gone.
        let err = render(
            "manifest",
            "a: {{ deployment.parameters.x | safe }}\n",
            &[("x", "{privileged: true}")],
        )
        .unwrap_err();
        assert!(err.contains("safe filter is not available"), "{err}");
    }

    #[test]
    fn scalar_arguments_read_as_their_value_and_refuse_structure() {
        assert_eq!(
            render("name", "{{ deployment.slug ~ '-db' }}", &[]).unwrap(),
            "sample-db"
        );
        assert_eq!(
            render("condition", "field:status.state=ready", &[]).unwrap(),
            "field:status.state=ready"
        );
        assert_eq!(render("length", "24", &[]).unwrap(), "24");
        assert_eq!(render("namespace", "", &[]).unwrap(), "");
        let err = render("name", "{{ deployment.slug }}-db", &[]).unwrap_err();
        assert!(err.contains("write no quotes around"), "{err}");
        let err = render("name", "{a: b}", &[]).unwrap_err();
        assert!(err.contains("must be one value"), "{err}");
        let labels = render("labels", "{app: {{ deployment.slug }}}", &[]).unwrap();
        assert_eq!(labels, "{app: \"sample\"}");
        assert!(render("labels", "app=web", &[]).is_err());
    }

    #[test]
    fn a_value_printed_inside_a_block_of_text_is_refused() {
        let err = render(
            "manifest",
            "data:\n  conf: |\n    host = {{ deployment.parameters.db_host }}\n",
            &[("db_host", "pg")],
        )
        .unwrap_err();
        assert!(
            err.contains("line 3 (`host = <value>`) prints a value inside other text"),
            "{err}"
        );
    }

    #[test]
    fn sql_identifiers_are_quoted() {
        let rendered = render(
            "manifest",
            "sql: {{ 'ALTER DATABASE ' ~ (deployment.parameters.db | sql_identifier) }}\n",
            &[("db", "app\"; DROP ROLE x; --")],
        )
        .unwrap();
        let parsed: serde_json::Value = serde_saphyr::from_str(&rendered).unwrap();
        assert_eq!(parsed["sql"], "ALTER DATABASE \"app\"\"; DROP ROLE x; --\"");
    }

    #[test]
    fn loops_and_huge_output_end_with_an_error() {
        let err = render(
            "manifest",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let err = render(
            "manifest",
            "{% for a in range(3000) %}{{ 'x' * 1000 }}\n{% endfor %}",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("renders more than 1024 KiB"), "{err}");
    }

    #[test]
    fn an_undefined_attribute_is_an_error_naming_the_line() {
        let err = render("manifest", "a: 1\nimage: {{ deployment.imagee }}\n", &[]).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("deployment.imagee"),
            "{err}"
        );
        let err = render("name", "{{ deployment.parameters.missing }}", &[]).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn unknown_top_level_names_and_syntax_errors_are_found_without_rendering() {
        let templates = Templates::default();
        assert_eq!(
            templates
                .unknown_names("{{ deploymnet.slug }}-{{ namespace }}")
                .unwrap(),
            ["deploymnet"]
        );
        assert!(
            templates
                .unknown_names("{% for x in deployment.clusters %}{{ x }}{% endfor %}")
                .unwrap()
                .is_empty()
        );
        assert!(templates.unknown_names("{{ deployment.slug ").is_err());
    }
}
