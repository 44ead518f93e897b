//! Rendering a book for one deployment: what each step would do, without doing it.

use std::collections::BTreeMap;

use super::{
    book::{BookSpec, StepSpec},
    manifest::{parse_documents, redact_secrets, to_yaml},
    snapshot::{ClusterFacts, Snapshot},
    template::{TemplateContext, Templates, false_condition},
};

/// One step's arguments, rendered for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedStep {
    /// Index of the step in the book.
    pub step_index: usize,
    /// Its name.
    pub step_name: String,
    /// Its kind.
    pub uses: String,
    /// The cluster it runs on.
    pub cluster: String,
    /// Rendered arguments; none when the step is skipped.
    pub arguments: BTreeMap<String, String>,
    /// Its `if` condition is false: it would not run on this cluster.
    pub skipped: bool,
}

/// Why a book cannot be rendered for a deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The book requires a parameter the deployment does not set.
    #[error("the book requires parameter {0:?}, which the deployment does not set")]
    MissingParameter(String),
    /// A template failed for this deployment.
    #[error("step {} ({step_name:?}) with.{field}: {description}", step_index + 1)]
    Template {
        /// Index of the step.
        step_index: usize,
        /// Its name.
        step_name: String,
        /// The argument.
        field: String,
        /// What failed.
        description: String,
    },
    /// A step's `if` condition failed for this deployment.
    #[error("step {} ({step_name:?}) if: {description}", step_index + 1)]
    Condition {
        /// Index of the step.
        step_index: usize,
        /// Its name.
        step_name: String,
        /// What failed.
        description: String,
    },
    /// The deployment runs on no cluster.
    #[error("the deployment has no cluster to run on")]
    NoCluster,
    /// The templates took too long to render.
    #[error("the book's templates took longer than {}s to render", .0.as_secs())]
    TimedOut(std::time::Duration),
}

/// The snapshot as the book sees it: declared defaults filled in, required parameters checked.
pub fn with_parameters(book: &BookSpec, snapshot: &Snapshot) -> Result<Snapshot, RenderError> {
    let mut resolved = snapshot.clone();
    for parameter in &book.parameters {
        if resolved.deployment.parameters.contains_key(&parameter.name) {
            continue;
        }
        match &parameter.default {
            Some(default) => {
                resolved
                    .deployment
                    .parameters
                    .insert(parameter.name.clone(), default.clone());
            }
            None if parameter.required => {
                return Err(RenderError::MissingParameter(parameter.name.clone()));
            }
            // Optional without default: templates test it with `is defined`.
            None => {}
        }
    }
    Ok(resolved)
}

/// Why `step` does not run on `cluster` (its `if` is false), or `None` when it runs.
/// `snapshot` must come from [`with_parameters`].
pub fn skip_reason(
    templates: &Templates,
    (index, step): (usize, &StepSpec),
    snapshot: &Snapshot,
    cluster: &ClusterFacts,
    action: &str,
) -> Result<Option<String>, RenderError> {
    let context = TemplateContext::new(snapshot, cluster, action);
    check_condition(templates, (index, step), &context)
}

/// Evaluates the `if` of `step` in `context`: the reason it is skipped, if it is.
fn check_condition(
    templates: &Templates,
    (index, step): (usize, &StepSpec),
    context: &TemplateContext<'_>,
) -> Result<Option<String>, RenderError> {
    let Some(expression) = &step.condition else {
        return Ok(None);
    };
    match templates.condition_holds(expression, context) {
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(false_condition(expression))),
        Err(description) => Err(RenderError::Condition {
            step_index: index,
            step_name: step.name.clone(),
            description,
        }),
    }
}

/// Renders the arguments of `step` for `cluster`. `snapshot` must come from [`with_parameters`].
pub fn render_step(
    templates: &Templates,
    (index, step): (usize, &StepSpec),
    snapshot: &Snapshot,
    cluster: &ClusterFacts,
    action: &str,
) -> Result<BTreeMap<String, String>, RenderError> {
    let context = TemplateContext::new(snapshot, cluster, action);
    templates
        .render_arguments(&step.arguments, &context)
        .map_err(|(field, description)| RenderError::Template {
            step_index: index,
            step_name: step.name.clone(),
            field,
            description,
        })
}

/// Every step of `book` rendered for every cluster of the deployment, in run order (each step
/// on each cluster in turn), with secret values redacted: the dry run people read. A step whose
/// `if` is false on a cluster is marked skipped there, its arguments left unrendered.
pub fn render_book(
    templates: &Templates,
    book: &BookSpec,
    snapshot: &Snapshot,
    action: &str,
) -> Result<Vec<RenderedStep>, RenderError> {
    if snapshot.clusters.is_empty() {
        return Err(RenderError::NoCluster);
    }
    render_preview(templates, book, snapshot, Some(action))
}

/// The dry run of `book` for a snapshot that may have no cluster (an inline one), and an action
/// that may be unknown: like [`render_book`], except that without cluster every step is rendered
/// once with `cluster` undefined (and an empty cluster name), and without action `action` is
/// undefined.
pub fn render_preview(
    templates: &Templates,
    book: &BookSpec,
    snapshot: &Snapshot,
    action: Option<&str>,
) -> Result<Vec<RenderedStep>, RenderError> {
    let snapshot = with_parameters(book, snapshot)?;
    let clusters: Vec<Option<&ClusterFacts>> = if snapshot.clusters.is_empty() {
        vec![None]
    } else {
        snapshot.clusters.iter().map(Some).collect()
    };
    let mut rendered = Vec::new();
    for (index, step) in book.steps.iter().enumerate() {
        for cluster in &clusters {
            let context = TemplateContext::preview(&snapshot, *cluster, action);
            let cluster_name = cluster.map(|c| c.name.clone()).unwrap_or_default();
            // A skipped step's arguments may make sense only when it runs: not rendered.
            if check_condition(templates, (index, step), &context)?.is_some() {
                rendered.push(RenderedStep {
                    step_index: index,
                    step_name: step.name.clone(),
                    uses: step.uses.clone(),
                    cluster: cluster_name,
                    arguments: BTreeMap::new(),
                    skipped: true,
                });
                continue;
            }
            let mut arguments = templates
                .render_arguments(&step.arguments, &context)
                .map_err(|(field, description)| RenderError::Template {
                    step_index: index,
                    step_name: step.name.clone(),
                    field,
                    description,
                })?;
            if let Some(manifest) = arguments.get_mut("manifest") {
                redact_manifest(manifest);
            }
            rendered.push(RenderedStep {
                step_index: index,
                step_name: step.name.clone(),
                uses: step.uses.clone(),
                cluster: cluster_name,
                arguments,
                skipped: false,
            });
        }
    }
    Ok(rendered)
}

/// Replaces a manifest holding Secrets by the same objects with their values hidden.
fn redact_manifest(manifest: &mut String) {
    if let Ok(mut documents) = parse_documents(manifest)
        && redact_secrets(&mut documents)
    {
        *manifest = to_yaml(&documents);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{book::BookFormat, snapshot::sample_snapshot};

    const BOOK: &str = r#"
name: web-deploy
type: none
parameters:
  - {name: port, default: "8080"}
  - {name: host, required: true}
steps:
  - name: Apply
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: {{ deployment.slug ~ "-db" }}, namespace: {{ namespace }}}
        stringData: {password: {{ deployment.parameters.host ~ "-secret" }}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: {{ deployment.slug }}, namespace: {{ namespace }}}
        spec: {ports: [{port: {{ deployment.parameters.port | int }}}]}
"#;

    #[test]
    fn render_fills_defaults_and_redacts_secret_values() {
        let book = BookSpec::parse(BookFormat::Yaml, BOOK).unwrap();
        let snapshot = sample_snapshot(&[("host", "shop.example")]);
        let steps = render_book(&Templates::default(), &book, &snapshot, "deploy").unwrap();
        assert_eq!(steps.len(), 1);
        let manifest = &steps[0].arguments["manifest"];
        assert!(manifest.contains("port: 8080"), "{manifest}");
        assert!(!manifest.contains("shop.example-secret"), "{manifest}");
        assert!(
            manifest.contains(crate::domain::manifest::REDACTED),
            "{manifest}"
        );
        assert_eq!(steps[0].cluster, snapshot.clusters[0].name);
    }

    #[test]
    fn a_preview_without_cluster_renders_each_step_once_and_leaves_action_undefined() {
        let book = BookSpec::parse(BookFormat::Yaml, BOOK).unwrap();
        let mut snapshot = sample_snapshot(&[("host", "shop.example")]);
        snapshot.clusters.clear();
        let steps = render_preview(&Templates::default(), &book, &snapshot, None).unwrap();
        assert_eq!((steps.len(), steps[0].cluster.as_str()), (1, ""));
        assert!(!steps[0].arguments["manifest"].contains("shop.example-secret"));

        let mut uses_action = book.clone();
        uses_action.steps[0]
            .arguments
            .insert("manifest".into(), "kind: {{ action }}\n".into());
        let err = render_preview(&Templates::default(), &uses_action, &snapshot, None).unwrap_err();
        assert!(
            matches!(err, RenderError::Template { step_index: 0, ref field, .. } if field == "manifest"),
            "{err}"
        );
        let steps = render_preview(
            &Templates::default(),
            &uses_action,
            &snapshot,
            Some("pause"),
        )
        .unwrap();
        assert_eq!(steps[0].arguments["manifest"], "kind: \"pause\"\n");
    }

    const CONDITIONAL: &str = r#"
name: web-deploy
type: none
parameters:
  - {name: host, default: ""}
steps:
  - name: Delete the Ingress
    uses: k8s.delete
    if: not deployment.parameters.host
    with: {api_version: networking.k8s.io/v1, kind: Ingress, name: "{{ deployment.slug }}"}
  - name: Check the host
    uses: http.check
    if: deployment.parameters.host
    with: {url: "{{ 'https://' ~ deployment.parameters.host }}"}
"#;

    #[test]
    fn a_false_condition_marks_the_step_skipped_without_rendering_it() {
        let book = BookSpec::parse(BookFormat::Yaml, CONDITIONAL).unwrap();
        let outcome = |parameters: &[(&str, &str)]| {
            let snapshot = sample_snapshot(parameters);
            render_book(&Templates::default(), &book, &snapshot, "deploy")
                .unwrap()
                .into_iter()
                .map(|step| (step.skipped, step.arguments.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(outcome(&[]), [(false, 3), (true, 0)]);
        assert_eq!(
            outcome(&[("host", "shop.example")]),
            [(true, 0), (false, 1)]
        );

        let snapshot = sample_snapshot(&[]);
        let context = (&snapshot, &snapshot.clusters[0], "deploy");
        let reason = |index: usize| {
            skip_reason(
                &Templates::default(),
                (index, &book.steps[index]),
                context.0,
                context.1,
                context.2,
            )
        };
        // The snapshot here is the raw one: `host` undefined, so its default not filled in.
        let resolved = with_parameters(&book, &snapshot).unwrap();
        assert_eq!(
            skip_reason(
                &Templates::default(),
                (1, &book.steps[1]),
                &resolved,
                &resolved.clusters[0],
                "deploy"
            ),
            Ok(Some(r#""deployment.parameters.host" is false"#.to_owned()))
        );
        let err = reason(0).unwrap_err();
        assert_eq!(
            err.to_string().split(": ").next(),
            Some(r#"step 1 ("Delete the Ingress") if"#),
            "{err}"
        );
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn a_missing_required_parameter_is_named() {
        let book = BookSpec::parse(BookFormat::Yaml, BOOK).unwrap();
        let err = render_book(
            &Templates::default(),
            &book,
            &sample_snapshot(&[]),
            "deploy",
        )
        .unwrap_err();
        assert_eq!(err, RenderError::MissingParameter("host".into()));
    }
}
