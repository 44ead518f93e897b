//! `/_eyrie/p/<project>/dg/<group>/new`: the New deployment form, and its post.
//!
//! The form offers the project's scopes and clusters and one field per parameter the group's four
//! books declare, merged as `eyrie group show` merges them. A create the API refuses shows the
//! form again, with what was typed and each `google.rpc.BadRequest` field violation next to its
//! field; an accepted one goes to the new deployment's page.

use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::Path,
    response::{IntoResponse, Redirect, Response},
};
use eyrie_proto::{
    book_parameters::{self, GroupParameter},
    v1 as pb,
};
use http::StatusCode;
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{ClusterView, Places, actions, href, id};
use crate::console::{PageError, Posted, SignedIn, render, view};

#[derive(Template)]
#[template(path = "new_deployment.html")]
struct NewDeploymentPage {
    chrome: view::Chrome,
    action: String,
    kind: &'static str,
    cancel: String,
    request_id: String,
    /// Id and display name, before the scope and clusters.
    names: Vec<TextField>,
    /// Repository, branch, image and commit, after them.
    source: Vec<TextField>,
    scopes: Vec<ScopeChoice>,
    no_scope_selected: bool,
    scope_error: Option<String>,
    clusters: Vec<ClusterChoice>,
    clusters_error: Option<String>,
    parameters: Vec<TextField>,
    summary: Vec<SummaryLine>,
}

/// One text input with its label, hint and error.
struct TextField {
    /// The form field's name (`image`, `param.db_host`).
    name: String,
    /// The element id (`image`, `param-db_host`).
    id: String,
    label: String,
    value: String,
    hint: String,
    placeholder: String,
    required: bool,
    error: Option<String>,
}

impl TextField {
    /// The ids describing the input: its hint, and its error when it has one.
    fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

struct ScopeChoice {
    slug: String,
    display_name: String,
    allow_drop: bool,
    selected: bool,
}

struct ClusterChoice {
    cluster: ClusterView,
    checked: bool,
}

/// One line of the summary at the top of a refused form: a link to the field, and what is wrong.
struct SummaryLine {
    target: Option<String>,
    text: String,
}

/// What the person typed, kept when the form is shown again.
#[derive(Debug, Default)]
struct Typed {
    deployment_id: String,
    display_name: String,
    scope: String,
    clusters: Vec<String>,
    repository: String,
    branch: String,
    image: String,
    commit_ref: String,
    parameters: BTreeMap<String, String>,
    request_id: String,
}

/// Prefix of the form fields of parameters (`param.db_host`).
const PARAM: &str = "param.";

impl Typed {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut typed = Self::default();
        for (key, value) in pairs {
            let value = value.trim().to_owned();
            match key.as_str() {
                "deployment_id" => typed.deployment_id = value,
                "display_name" => typed.display_name = value,
                "scope" => typed.scope = value,
                "cluster" if !value.is_empty() && !typed.clusters.contains(&value) => {
                    typed.clusters.push(value);
                }
                "repository" => typed.repository = value,
                "branch" => typed.branch = value,
                "image" => typed.image = value,
                "commit_ref" => typed.commit_ref = value,
                "request_id" => typed.request_id = value,
                other => {
                    if let Some(name) = other.strip_prefix(PARAM) {
                        typed.parameters.insert(name.to_owned(), value);
                    }
                }
            }
        }
        typed
    }

    /// The deployment to create in project `project`; parameters left empty are not sent.
    fn deployment(&self, project: &str) -> pb::Deployment {
        pb::Deployment {
            // Like `eyrie deployment create`: the id names it unless a name is given.
            display_name: if self.display_name.is_empty() {
                self.deployment_id.clone()
            } else {
                self.display_name.clone()
            },
            scope: if self.scope.is_empty() {
                String::new()
            } else {
                format!("{project}/scopes/{}", self.scope)
            },
            clusters: self
                .clusters
                .iter()
                .map(|slug| format!("{project}/clusters/{slug}"))
                .collect(),
            repository: self.repository.clone(),
            branch: self.branch.clone(),
            image: self.image.clone(),
            commit_ref: self.commit_ref.clone(),
            parameters: self
                .parameters
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            ..Default::default()
        }
    }
}

/// What the form is about: the project, the group, its places and its books' parameters.
struct Context {
    project_display_name: String,
    group: pb::DeploymentGroup,
    places: Places,
    parameters: Vec<GroupParameter>,
}

impl Context {
    async fn load(signed_in: &SignedIn, project: &str, group: &str) -> Result<Self, PageError> {
        let project_name = format!("projects/{project}");
        let group_name = format!("{project_name}/groups/{group}");
        let api = signed_in.api();
        let (project_found, group, places) = tokio::try_join!(
            api.project(&project_name),
            api.group(&group_name),
            Places::of(signed_in, &project_name),
        )?;
        let parameters = group_parameters(signed_in, &group).await?;
        Ok(Self {
            project_display_name: project_found.display_name,
            group,
            places,
            parameters,
        })
    }
}

/// The parameters the four books of `group` declare (each book read once), merged.
async fn group_parameters(
    signed_in: &SignedIn,
    group: &pb::DeploymentGroup,
) -> Result<Vec<GroupParameter>, PageError> {
    let mut names: Vec<&String> = Vec::new();
    for name in [
        &group.initialize_book,
        &group.deploy_book,
        &group.pause_book,
        &group.drop_book,
    ] {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    let reads = names.iter().map(|name| {
        let mut books = signed_in.api().books();
        async move {
            books
                .get_book(pb::GetBookRequest {
                    name: (*name).clone(),
                })
                .await
                .map(|book| ((*name).clone(), book.into_inner().parameters))
        }
    });
    let books = futures::future::try_join_all(reads).await?;
    Ok(merge_parameters(&books))
}

/// The parameters of `books` (name and parameters, in phase order) merged as `eyrie group
/// show` merges them, required ones first so that what must be filled in is not lost among the
/// defaults.
fn merge_parameters(books: &[(String, Vec<pb::BookParameter>)]) -> Vec<GroupParameter> {
    let mut merged = book_parameters::merge(books);
    merged.sort_by_key(|p| !p.required);
    merged
}

/// Refuses someone whose role on `project` cannot create deployments: the API asks for admin.
fn refuse_below_admin(signed_in: &SignedIn, project_name: &str) -> Result<(), PageError> {
    if actions::at_least(signed_in, project_name, pb::Role::Admin) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "Creating a deployment needs the admin role on this project.".to_owned(),
        ))
    }
}

/// `GET /_eyrie/p/{project}/dg/{group}/new`.
pub async fn form(
    signed_in: SignedIn,
    Path((project, group)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (project, group) = (id(&project)?, id(&group)?);
    refuse_below_admin(&signed_in, &format!("projects/{project}"))?;
    let context = Context::load(&signed_in, project, group).await?;
    let typed = Typed {
        // One cluster or scope is chosen for the person; more are theirs to pick.
        scope: single(context.places.scopes.iter().map(|s| &s.slug)),
        clusters: Some(single(context.places.clusters.iter().map(|c| &c.slug)))
            .filter(|slug| !slug.is_empty())
            .into_iter()
            .collect(),
        ..Default::default()
    };
    Ok(render(&page(
        &signed_in,
        project,
        group,
        &context,
        &typed,
        &[],
    )))
}

fn single<'a>(mut items: impl Iterator<Item = &'a String>) -> String {
    match (items.next(), items.next()) {
        (Some(only), None) => only.clone(),
        _ => String::new(),
    }
}

/// `POST /_eyrie/p/{project}/dg/{group}/new`: CreateDeployment, then the new deployment's page
/// (303); the form again with the API's field errors when it refuses (400, 409 for a taken id).
pub async fn submit(
    Path((project, group)): Path<(String, String)>,
    Posted { signed_in, form }: Posted<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (project, group) = (id(&project)?, id(&group)?);
    let project_name = format!("projects/{project}");
    refuse_below_admin(&signed_in, &project_name)?;
    let context = Context::load(&signed_in, project, group).await?;
    let typed = Typed::from_pairs(form);

    let missing = missing_parameters(&context.parameters, &typed);
    if !missing.is_empty() {
        let shown = page(&signed_in, project, group, &context, &typed, &missing);
        return Ok((StatusCode::BAD_REQUEST, render(&shown)).into_response());
    }
    let created = signed_in
        .api()
        .deployments()
        .create_deployment(pb::CreateDeploymentRequest {
            parent: context.group.name.clone(),
            deployment_id: typed.deployment_id.clone(),
            deployment: Some(typed.deployment(&project_name)),
            request_id: typed.request_id.clone(),
        })
        .await;
    let (status, violations) = match created {
        Ok(created) => {
            let created = created.into_inner();
            return Ok(
                Redirect::to(&href(project, Some(group), Some(&created.slug))).into_response(),
            );
        }
        Err(refused) if refused.code() == Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, field_violations(&refused))
        }
        Err(refused) if refused.code() == Code::AlreadyExists => (
            StatusCode::CONFLICT,
            vec![Violation {
                field: "deployment_id".to_owned(),
                description: "is taken: another deployment of this group has this id".to_owned(),
            }],
        ),
        Err(refused) => return Err(refused.into()),
    };
    let shown = page(&signed_in, project, group, &context, &typed, &violations);
    Ok((status, render(&shown)).into_response())
}

/// One wrong field, named by its path in CreateDeploymentRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    field: String,
    description: String,
}

/// The field violations of an INVALID_ARGUMENT refusal; its message alone when it has none.
fn field_violations(status: &tonic::Status) -> Vec<Violation> {
    let violations: Vec<Violation> = status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| Violation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default();
    if violations.is_empty() {
        vec![Violation {
            field: String::new(),
            description: status.message().to_owned(),
        }]
    } else {
        violations
    }
}

/// The required parameters left empty, named as the API names them when an action finds them
/// missing (`deployment.parameters.<name>`, "required by <books>").
///
/// The API accepts a deployment without them and refuses its first Deploy: the form refuses it
/// at once instead, where the person can still fill them in.
fn missing_parameters(parameters: &[GroupParameter], typed: &Typed) -> Vec<Violation> {
    parameters
        .iter()
        .filter(|p| p.required && p.default_value.is_empty())
        .filter(|p| typed.parameters.get(&p.name).is_none_or(String::is_empty))
        .map(|p| Violation {
            field: format!("deployment.parameters.{}", p.name),
            description: format!("is required by {}", p.books.join(" and ")),
        })
        .collect()
}

/// The form field a request path stands for (`deployment.clusters[1]` → `clusters`,
/// `deployment.parameters.host` → `param.host`); `None` for what no field holds.
fn form_field(path: &str) -> Option<String> {
    if path == "deployment_id" {
        return Some(path.to_owned());
    }
    let field = path.strip_prefix("deployment.")?;
    if let Some(parameter) = field.strip_prefix("parameters.") {
        return Some(format!("{PARAM}{parameter}"));
    }
    let field = field.split('[').next().unwrap_or(field);
    matches!(
        field,
        "display_name" | "scope" | "clusters" | "repository" | "branch" | "image" | "commit_ref"
    )
    .then(|| field.to_owned())
}

/// The page of the form, with `typed` in it and each of `violations` next to its field.
fn page(
    signed_in: &SignedIn,
    project: &str,
    group: &str,
    context: &Context,
    typed: &Typed,
    violations: &[Violation],
) -> NewDeploymentPage {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unplaced: Vec<String> = Vec::new();
    for violation in violations {
        match form_field(&violation.field) {
            Some(field) => errors
                .entry(field)
                .or_default()
                .push(violation.description.clone()),
            None if violation.field.is_empty() => unplaced.push(violation.description.clone()),
            None => unplaced.push(format!("{}: {}", violation.field, violation.description)),
        }
    }
    let error = |field: &str| errors.get(field).map(|messages| messages.join("; "));
    let kind = view::deployment_type(context.group.r#type);
    let source_required = context.group.r#type() == pb::DeploymentType::Odoo;
    let image_required = matches!(
        context.group.r#type(),
        pb::DeploymentType::Odoo | pb::DeploymentType::None
    );
    let text = |name: &str, label: &str, value: &str, hint: String, required: bool| TextField {
        name: name.to_owned(),
        id: name.to_owned(),
        label: label.to_owned(),
        value: value.to_owned(),
        hint,
        placeholder: String::new(),
        required,
        error: error(name),
    };
    let names = vec![
        text(
            "deployment_id",
            "Id",
            &typed.deployment_id,
            "Lowercase letters, digits and hyphens, starting with a letter; it names Kubernetes \
             objects and cannot change."
                .to_owned(),
            true,
        ),
        text(
            "display_name",
            "Display name",
            &typed.display_name,
            "How the console shows it; the id when left empty.".to_owned(),
            false,
        ),
    ];
    let source = vec![
        text(
            "repository",
            "Repository",
            &typed.repository,
            format!(
                "A URL or git@host:path{}.",
                if source_required {
                    ""
                } else {
                    "; optional for this type"
                }
            ),
            source_required,
        ),
        text(
            "branch",
            "Branch",
            &typed.branch,
            "A git branch name.".to_owned(),
            source_required,
        ),
        text(
            "image",
            "Image",
            &typed.image,
            format!(
                "An OCI image reference, e.g. registry/app:1.0{}.",
                if image_required {
                    ""
                } else {
                    "; empty uses the operator's default"
                }
            ),
            image_required,
        ),
        text(
            "commit_ref",
            "Commit",
            &typed.commit_ref,
            "The commit the image was built from (free text, optional).".to_owned(),
            false,
        ),
    ];
    let parameters: Vec<TextField> = context
        .parameters
        .iter()
        .map(|p| {
            let name = format!("{PARAM}{}", p.name);
            let mut hint = p.description.trim().to_owned();
            if !p.default_value.is_empty() {
                if !hint.is_empty() {
                    hint.push(' ');
                }
                hint.push_str(&format!("Default: {}.", p.default_value));
            }
            TextField {
                id: format!("param-{}", p.name),
                label: p.name.clone(),
                value: typed.parameters.get(&p.name).cloned().unwrap_or_default(),
                hint,
                placeholder: p.default_value.clone(),
                required: p.required && p.default_value.is_empty(),
                error: error(&name),
                name,
            }
        })
        .collect();
    let scopes: Vec<ScopeChoice> = context
        .places
        .scopes
        .iter()
        .map(|scope| ScopeChoice {
            slug: scope.slug.clone(),
            display_name: if scope.display_name.is_empty() {
                scope.slug.clone()
            } else {
                scope.display_name.clone()
            },
            allow_drop: scope.allow_drop,
            selected: scope.slug == typed.scope,
        })
        .collect();
    let clusters: Vec<ClusterChoice> = context
        .places
        .clusters
        .iter()
        .map(|cluster| ClusterChoice {
            checked: typed.clusters.contains(&cluster.slug),
            cluster: ClusterView::from(cluster),
        })
        .collect();

    let first_cluster = clusters
        .first()
        .map(|c| format!("cluster-{}", c.cluster.slug));
    // The summary lists the problems in the order of the form's fields.
    let line = |field: &TextField| {
        field.error.as_ref().map(|message| SummaryLine {
            target: Some(field.id.clone()),
            text: format!("{}: {message}", field.label),
        })
    };
    let mut summary: Vec<SummaryLine> = names.iter().filter_map(line).collect();
    if let Some(message) = error("scope") {
        summary.push(SummaryLine {
            target: Some("scope".to_owned()),
            text: format!("Scope: {message}"),
        });
    }
    if let Some(message) = error("clusters") {
        summary.push(SummaryLine {
            target: first_cluster,
            text: format!("Clusters: {message}"),
        });
    }
    summary.extend(source.iter().chain(&parameters).filter_map(line));
    summary.extend(
        unplaced
            .into_iter()
            .map(|text| SummaryLine { target: None, text }),
    );

    NewDeploymentPage {
        chrome: signed_in
            .chrome("New deployment")
            .crumb("Projects", "/_eyrie/")
            .crumb(
                context.project_display_name.clone(),
                href(project, None, None),
            )
            .crumb(
                context.group.display_name.clone(),
                href(project, Some(group), None),
            ),
        action: format!("{}/new", href(project, Some(group), None)),
        kind,
        cancel: href(project, Some(group), None),
        request_id: uuid::Uuid::new_v4().to_string(),
        names,
        source,
        scope_error: error("scope"),
        no_scope_selected: !scopes.iter().any(|s| s.selected),
        scopes,
        clusters_error: error("clusters"),
        clusters,
        parameters,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(name: &str, required: bool, default_value: &str) -> pb::BookParameter {
        pb::BookParameter {
            name: name.to_owned(),
            description: format!("{name}'s meaning"),
            required,
            default_value: default_value.to_owned(),
        }
    }

    #[test]
    fn parameters_of_several_books_merge_required_first() {
        let merged = merge_parameters(&[
            (
                "books/a".to_owned(),
                vec![
                    parameter("port", false, "5432"),
                    parameter("host", false, ""),
                ],
            ),
            ("books/b".to_owned(), vec![parameter("host", true, "")]),
        ]);
        assert_eq!(
            merged
                .iter()
                .map(|p| (p.name.as_str(), p.required, p.books.len()))
                .collect::<Vec<_>>(),
            vec![("host", true, 2), ("port", false, 1)]
        );
        assert_eq!(merged[1].default_value, "5432");
    }

    #[test]
    fn request_paths_find_their_form_fields() {
        for (path, field) in [
            ("deployment_id", Some("deployment_id")),
            ("deployment.image", Some("image")),
            ("deployment.clusters[1]", Some("clusters")),
            ("deployment.parameters.host", Some("param.host")),
            ("deployment.parameters", None),
            ("request_id", None),
            ("parent", None),
        ] {
            assert_eq!(form_field(path).as_deref(), field, "{path}");
        }
    }

    #[test]
    fn a_form_keeps_what_was_typed_and_sends_no_empty_parameter() {
        let typed = Typed::from_pairs(
            [
                ("deployment_id", "shop"),
                ("scope", "dev"),
                ("cluster", "a"),
                ("cluster", "b"),
                ("cluster", "a"),
                ("image", " nginx:1 "),
                ("param.host", "shop.example.com"),
                ("param.port", ""),
                ("csrf", "ignored"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        let deployment = typed.deployment("projects/acme");
        assert_eq!(deployment.display_name, "shop");
        assert_eq!(deployment.scope, "projects/acme/scopes/dev");
        assert_eq!(
            deployment.clusters,
            vec!["projects/acme/clusters/a", "projects/acme/clusters/b"]
        );
        assert_eq!(deployment.image, "nginx:1");
        assert_eq!(deployment.parameters.len(), 1);
        assert_eq!(deployment.parameters["host"], "shop.example.com");
        let missing = missing_parameters(
            &[GroupParameter {
                name: "port".into(),
                required: true,
                books: vec!["books/x".into()],
                ..Default::default()
            }],
            &typed,
        );
        assert_eq!(missing[0].field, "deployment.parameters.port");
    }
}
