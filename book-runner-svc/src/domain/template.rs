//! Rendering book arguments: Jinja templates in strict mode over a deployment snapshot.
//!
//! Strict means an undefined name or attribute is an error, never an empty string: a typo in a
//! book must fail its validation, not apply a manifest with a blank image.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::snapshot::{ClusterFacts, Snapshot};

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

/// Renders templates; one per process is enough (it holds no per-book state).
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Manifests are YAML, not HTML: escaping would corrupt them.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
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
    /// Renders `source` with `context`.
    pub fn render(&self, source: &str, context: &TemplateContext<'_>) -> Result<String, String> {
        self.env
            .render_str(
                source,
                minijinja::Value::from(minijinja::value::Serde(context)),
            )
            .map_err(|err| describe(&err, source))
    }

    /// Top-level names `source` uses that the context does not define, or a syntax error.
    pub fn unknown_names(&self, source: &str) -> Result<Vec<String>, String> {
        let template = self
            .env
            .template_from_str(source)
            .map_err(|err| describe(&err, source))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !CONTEXT_NAMES.contains(&name.as_str()))
            .collect();
        unknown.sort();
        Ok(unknown)
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
                self.render(source, context)
                    .map(|value| (key.clone(), value))
                    .map_err(|err| (key.clone(), err))
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::snapshot::sample_snapshot;

    #[test]
    fn templates_render_deployment_fields() {
        let snapshot = sample_snapshot(&[("db_host", "pg")]);
        let context = TemplateContext::new(&snapshot, &snapshot.clusters[0], "deploy");
        let rendered = Templates::default()
            .render("image: \"{{ deployment.image }}\" host={{ deployment.parameters.db_host }} ns={{ namespace }}\n", &context)
            .unwrap();
        assert_eq!(
            rendered,
            "image: \"registry.example/app:1.0\" host=pg ns=sample-ns\n"
        );
    }

    #[test]
    fn an_undefined_attribute_is_an_error_naming_the_line() {
        let snapshot = sample_snapshot(&[]);
        let context = TemplateContext::new(&snapshot, &snapshot.clusters[0], "deploy");
        let err = Templates::default()
            .render("a: 1\nimage: {{ deployment.imagee }}\n", &context)
            .unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("deployment.imagee"),
            "{err}"
        );
        let err = Templates::default()
            .render("{{ deployment.parameters.missing }}", &context)
            .unwrap_err();
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
