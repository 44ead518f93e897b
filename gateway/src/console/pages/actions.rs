//! Deploy, Pause and Drop on a deployment's page: the buttons (each disabled, with the reason in
//! words, when the caller's role, the deployment's state or its scope does not allow it) and the
//! posts `/_eyrie/p/<project>/dg/<group>/d/<deployment>/deploy|pause|drop`, plus Drop's
//! confirmation page (`GET .../drop`).
//!
//! The buttons only mirror deployment-svc's lifecycle rules (`domain/state.rs`) and the access
//! rules of the contract: the API decides on every post, and a refusal of state is shown on the
//! deployment's page with the API's own message. Each form carries a request id made when it is
//! rendered, so that a double submit runs the action once (the API deduplicates by it).

use askama::Template;
use axum::{
    extract::Path,
    response::{IntoResponse, Redirect, Response},
};
use eyrie_platform::peer_status::PeerFailure;
use eyrie_proto::v1 as pb;
use http::StatusCode;
use serde::Deserialize;
use tonic_types::StatusExt as _;

use super::{Places, ScopeView, deployment, href, id};
use crate::console::{PageError, Posted, SignedIn, render, view};

/// Whether the signed-in person holds at least `role` on `project` (`projects/{slug}`).
pub fn at_least(signed_in: &SignedIn, project: &str, role: pb::Role) -> bool {
    signed_in
        .role_on(project)
        .is_some_and(|held| held as i32 >= role as i32)
}

/// The actions section of a deployment's page.
pub struct ActionsView {
    /// Deploy: a post.
    pub deploy: ActionButton,
    /// Pause: a post.
    pub pause: ActionButton,
    /// Drop: a link to its confirmation page; `None` where the scope forbids dropping.
    pub drop: Option<ActionButton>,
    /// Why Drop is absent, when it is.
    pub drop_note: Option<String>,
}

/// One action's form.
pub struct ActionButton {
    /// `deploy`, `pause` or `drop`: the ids of the form's elements.
    pub key: &'static str,
    /// What the button says.
    pub label: &'static str,
    /// Where the form goes.
    pub href: String,
    /// Posted (with the CSRF token and a request id), or a GET to a confirmation page.
    pub post: bool,
    /// This render's request id.
    pub request_id: String,
    /// What the action does, said next to the button.
    pub hint: String,
    /// Why the action is not possible now; the button is disabled when set.
    pub disabled: Option<String>,
}

/// An action the API refused, shown on the deployment's page.
pub struct Refused {
    /// The page's HTTP status.
    pub status: StatusCode,
    /// The action, as a verb.
    pub action: &'static str,
    /// The API's message.
    pub message: String,
    /// The fields the API's details name (e.g. each missing parameter), one per line.
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Deploy,
    Pause,
    Drop,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Deploy => "Deploy",
            Self::Pause => "Pause",
            Self::Drop => "Drop",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Pause => "pause",
            Self::Drop => "drop",
        }
    }

    /// The role the contract asks for (`access_rule` of the RPC).
    fn role(self) -> pb::Role {
        match self {
            Self::Deploy | Self::Pause => pb::Role::Deployer,
            Self::Drop => pb::Role::Admin,
        }
    }
}

impl ActionsView {
    /// The actions on `d` (of scope `scope`) for the signed-in person; `None` for someone who
    /// may run none of them (a viewer sees no action at all).
    pub fn new(
        signed_in: &SignedIn,
        project: &str,
        group: &str,
        d: &pb::Deployment,
        scope: &ScopeView,
    ) -> Option<Self> {
        let project_name = format!("projects/{project}");
        if !at_least(signed_in, &project_name, pb::Role::Deployer) {
            return None;
        }
        let base = href(project, Some(group), Some(&d.slug));
        let state = d.state();
        let busy = d.running_job_count > 0
            || d.last_operation
                .as_ref()
                .is_some_and(|op| op.status() == pb::OperationStatus::Running);
        let button = |action: Action, hint: String, disabled: Option<String>| ActionButton {
            key: action.key(),
            label: action.verb(),
            href: format!("{base}/{}", action.key()),
            post: action != Action::Drop,
            request_id: uuid::Uuid::new_v4().to_string(),
            hint,
            disabled: disabled.or_else(|| {
                (!at_least(signed_in, &project_name, action.role())).then(|| {
                    format!(
                        "{} needs the {} role on this project.",
                        action.verb(),
                        role_word(action.role())
                    )
                })
            }),
        };
        let common = |action: Action| -> Option<String> {
            if state == pb::DeploymentState::Dropped {
                Some(format!(
                    "The deployment is dropped: no action can run on it any more ({}).",
                    action.key()
                ))
            } else if busy {
                Some("Another operation is running on this deployment; wait for it to end.".into())
            } else {
                None
            }
        };
        let deploy_hint = match state {
            pb::DeploymentState::Draft | pb::DeploymentState::Initialize => {
                "Runs the initialize book, then the deploy book.".to_owned()
            }
            _ => "Runs the deploy book with the deployment's current fields.".to_owned(),
        };
        let deploy = button(Action::Deploy, deploy_hint, common(Action::Deploy));
        let pause_refusal = match state {
            // Pause of a draft or initializing deployment: refused by the lifecycle.
            pb::DeploymentState::Draft | pb::DeploymentState::Initialize => Some(format!(
                "Only a deployed deployment can be paused; this one is {}.",
                view::deployment_state(d.state).label
            )),
            _ => common(Action::Pause),
        };
        let pause = button(
            Action::Pause,
            "Runs the pause book: the deployment scales down and keeps its data.".to_owned(),
            pause_refusal,
        );
        let (drop, drop_note) = if scope.allow_drop {
            let drop = button(
                Action::Drop,
                "Runs the drop book and removes the deployment for good; asks you to confirm first."
                    .to_owned(),
                common(Action::Drop),
            );
            (Some(drop), None)
        } else {
            let note = format!(
                "Drop is not offered: scope {} does not allow dropping its deployments.",
                scope.display_name
            );
            (None, Some(note))
        };
        Some(Self {
            deploy,
            pause,
            drop,
            drop_note,
        })
    }
}

fn role_word(role: pb::Role) -> &'static str {
    match role {
        pb::Role::Admin => "admin",
        pb::Role::Deployer => "deployer",
        pb::Role::Viewer => "viewer",
        pb::Role::Unspecified => "unknown",
    }
}

/// An action's form: the request id it was rendered with.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    request_id: String,
}

/// Drop's form: the request id, and the deployment id typed to confirm.
#[derive(Debug, Deserialize)]
pub struct DropForm {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    confirm: String,
}

type DeploymentPath = Path<(String, String, String)>;

/// `POST .../deploy`.
pub async fn deploy(
    Path((project, group, deployment)): DeploymentPath,
    Posted { signed_in, form }: Posted<ActionForm>,
) -> Result<Response, PageError> {
    run(
        signed_in,
        [&project, &group, &deployment],
        Action::Deploy,
        form.request_id,
    )
    .await
}

/// `POST .../pause`.
pub async fn pause(
    Path((project, group, deployment)): DeploymentPath,
    Posted { signed_in, form }: Posted<ActionForm>,
) -> Result<Response, PageError> {
    run(
        signed_in,
        [&project, &group, &deployment],
        Action::Pause,
        form.request_id,
    )
    .await
}

#[derive(Template)]
#[template(path = "confirm_drop.html")]
struct ConfirmDropPage {
    chrome: view::Chrome,
    action: String,
    cancel: String,
    request_id: String,
    slug: String,
    display_name: String,
    scope: ScopeView,
    state: view::Badge,
    drop_book: String,
    typed: String,
    error: Option<String>,
}

/// `GET .../drop`: the confirmation, naming the deployment and its scope.
pub async fn confirm_drop(
    signed_in: SignedIn,
    Path((project, group, deployment)): DeploymentPath,
) -> Result<Response, PageError> {
    let ids = [project.as_str(), group.as_str(), deployment.as_str()];
    Ok(render(
        &confirm_page(&signed_in, ids, String::new(), None).await?,
    ))
}

/// `POST .../drop`: DropDeployment once the deployment's id was typed.
pub async fn drop(
    Path((project, group, deployment)): DeploymentPath,
    Posted { signed_in, form }: Posted<DropForm>,
) -> Result<Response, PageError> {
    let ids = [project.as_str(), group.as_str(), deployment.as_str()];
    refuse_below(&signed_in, ids[0], Action::Drop)?;
    if form.confirm.trim() != deployment {
        let error = if form.confirm.trim().is_empty() {
            "Type the id of the deployment to confirm.".to_owned()
        } else {
            format!(
                "{:?} is not the id of this deployment: type {deployment} to drop it.",
                form.confirm.trim()
            )
        };
        let page = confirm_page(&signed_in, ids, form.confirm, Some(error)).await?;
        return Ok((StatusCode::BAD_REQUEST, render(&page)).into_response());
    }
    run(
        signed_in,
        [&project, &group, &deployment],
        Action::Drop,
        form.request_id,
    )
    .await
}

/// Refuses someone whose role on `project` is below what `action` needs (the API would too).
fn refuse_below(signed_in: &SignedIn, project: &str, action: Action) -> Result<(), PageError> {
    if at_least(
        signed_in,
        &format!("projects/{}", id(project)?),
        action.role(),
    ) {
        return Ok(());
    }
    Err(PageError::Forbidden(format!(
        "{} needs the {} role on this project.",
        action.verb(),
        role_word(action.role())
    )))
}

/// Drop's confirmation page for the deployment of `ids` (project, group, deployment).
async fn confirm_page(
    signed_in: &SignedIn,
    [project, group, deployment]: [&str; 3],
    typed: String,
    error: Option<String>,
) -> Result<ConfirmDropPage, PageError> {
    refuse_below(signed_in, project, Action::Drop)?;
    let project_name = format!("projects/{}", id(project)?);
    let group_name = format!("{project_name}/groups/{}", id(group)?);
    let name = format!("{group_name}/deployments/{}", id(deployment)?);
    let api = signed_in.api();
    let (project_found, group_found, d, places) = tokio::try_join!(
        api.project(&project_name),
        api.group(&group_name),
        api.deployment(&name),
        Places::of(signed_in, &project_name),
    )?;
    let scope = places.scope(&d.scope);
    if !scope.allow_drop {
        return Err(PageError::Conflict(format!(
            "{} cannot be dropped: its scope {} does not allow dropping.",
            d.display_name, scope.display_name
        )));
    }
    if d.state() == pb::DeploymentState::Dropped {
        return Err(PageError::Conflict(format!(
            "{} is dropped already.",
            d.display_name
        )));
    }
    let detail = href(project, Some(group), Some(deployment));
    Ok(ConfirmDropPage {
        chrome: signed_in
            .chrome(format!("Drop {}?", d.display_name))
            .crumb("Projects", "/_eyrie/")
            .crumb(project_found.display_name, href(project, None, None))
            .crumb(
                group_found.display_name.clone(),
                href(project, Some(group), None),
            )
            .crumb(d.display_name.clone(), detail.clone()),
        action: format!("{detail}/drop"),
        cancel: detail,
        request_id: uuid::Uuid::new_v4().to_string(),
        state: view::deployment_state(d.state),
        slug: d.slug,
        display_name: d.display_name,
        scope,
        drop_book: group_found.drop_book,
        typed,
        error,
    })
}

/// Runs `action` on the deployment of `ids` with `request_id`; then its job's page, or the
/// deployment's page (303). A refusal of state is shown on the deployment's page.
async fn run(
    signed_in: SignedIn,
    [project, group, deployment]: [&String; 3],
    action: Action,
    request_id: String,
) -> Result<Response, PageError> {
    refuse_below(&signed_in, project, action)?;
    let name = format!(
        "projects/{}/groups/{}/deployments/{}",
        id(project)?,
        id(group)?,
        id(deployment)?
    );
    let mut client = signed_in.api().deployments();
    let done = match action {
        Action::Deploy => {
            client
                .deploy_deployment(pb::DeployDeploymentRequest {
                    name,
                    rollback_to_version: None,
                    request_id,
                })
                .await
        }
        Action::Pause => {
            client
                .pause_deployment(pb::PauseDeploymentRequest { name, request_id })
                .await
        }
        Action::Drop => {
            client
                .drop_deployment(pb::DropDeploymentRequest { name, request_id })
                .await
        }
    };
    let detail = href(project, Some(group), Some(deployment));
    match done {
        Ok(operation) => {
            let operation = first_job(&signed_in, operation.into_inner()).await;
            Ok(Redirect::to(&after(&detail, &operation)).into_response())
        }
        Err(status) => match refusal(action, &status) {
            Some(refused) => {
                deployment::show(
                    signed_in,
                    [project, group, deployment],
                    &deployment::DiffQuery::default(),
                    Some(refused),
                )
                .await
            }
            None => Err(status.into()),
        },
    }
}

/// How long an accepted action waits for its first job before showing the deployment's page
/// instead: the job is started just after the action is recorded, within milliseconds when
/// book-runner-svc answers.
const FIRST_JOB_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `operation` once it lists its first job (followed with WatchOperation), or as it is when
/// none comes within [`FIRST_JOB_WAIT`] or it ended without one.
async fn first_job(signed_in: &SignedIn, operation: pb::Operation) -> pb::Operation {
    if !operation.jobs.is_empty() {
        return operation;
    }
    let request = pb::WatchOperationRequest {
        name: operation.name.clone(),
    };
    let follow = async {
        let mut stream = signed_in
            .api()
            .deployments()
            .watch_operation(request)
            .await
            .ok()?
            .into_inner();
        while let Ok(Some(message)) = stream.message().await {
            if let Some(pb::watch_operation_response::Kind::Operation(form)) = message.kind
                && (!form.jobs.is_empty() || form.status() != pb::OperationStatus::Running)
            {
                return Some(form);
            }
        }
        None
    };
    match tokio::time::timeout(FIRST_JOB_WAIT, follow).await {
        Ok(Some(form)) => form,
        _ => operation,
    }
}

/// Where an accepted action goes: the page of the job it started (the last of its operation's
/// jobs, e.g. the initialize job of a first Deploy), or the deployment's page without one.
fn after(detail: &str, operation: &pb::Operation) -> String {
    match operation.jobs.last() {
        Some(job) => format!("{detail}/jobs/{}", view::id_of(job)),
        None => detail.to_owned(),
    }
}

/// The refusal of `action` shown on the deployment's page: refusals of state, of a request the
/// deployment cannot take now, or of a service that does not answer. `None` for those that
/// have their own page (not found, forbidden, signed out).
fn refusal(action: Action, status: &tonic::Status) -> Option<Refused> {
    let http = match PeerFailure::of(status.code()) {
        PeerFailure::Refused | PeerFailure::Aborted => StatusCode::CONFLICT,
        PeerFailure::Invalid => StatusCode::BAD_REQUEST,
        PeerFailure::Exhausted => StatusCode::TOO_MANY_REQUESTS,
        PeerFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        PeerFailure::NotFound
        | PeerFailure::Denied
        | PeerFailure::Unauthenticated
        | PeerFailure::Broken
        | PeerFailure::Fault => return None,
    };
    let details: Vec<String> = status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| {
                    let field = v
                        .field
                        .strip_prefix("deployment.parameters.")
                        .map_or(v.field.clone(), |p| format!("parameter {p}"));
                    format!("{field}: {}", v.description)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Refused {
        status: http,
        action: action.verb(),
        message: status.message().to_owned(),
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_state_keeps_the_api_message_and_names_missing_parameters() {
        let status = eyrie_platform::status::failed_precondition_fields(
            "MISSING_PARAMETER",
            "projects/a/groups/g/deployments/d",
            "d does not set a parameter required by its books: host".to_owned(),
            &[eyrie_platform::status::FieldViolation::new(
                "deployment.parameters.host",
                "required by books/odoo-deploy",
            )],
        );
        let refused = refusal(Action::Deploy, &status).unwrap();
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert!(refused.message.contains("host"), "{}", refused.message);
        assert_eq!(
            refused.details,
            vec!["parameter host: required by books/odoo-deploy"]
        );
        assert!(refusal(Action::Pause, &tonic::Status::permission_denied("no")).is_none());
    }

    #[test]
    fn each_code_is_shown_on_the_page_with_its_http_status_or_gets_its_own_page() {
        use tonic::Code;
        let table = [
            (Code::FailedPrecondition, Some(StatusCode::CONFLICT)),
            (Code::AlreadyExists, Some(StatusCode::CONFLICT)),
            (Code::Aborted, Some(StatusCode::CONFLICT)),
            (Code::InvalidArgument, Some(StatusCode::BAD_REQUEST)),
            (Code::OutOfRange, Some(StatusCode::BAD_REQUEST)),
            (Code::ResourceExhausted, Some(StatusCode::TOO_MANY_REQUESTS)),
            (Code::Unavailable, Some(StatusCode::SERVICE_UNAVAILABLE)),
            (
                Code::DeadlineExceeded,
                Some(StatusCode::SERVICE_UNAVAILABLE),
            ),
            (Code::NotFound, None),
            (Code::PermissionDenied, None),
            (Code::Unauthenticated, None),
            (Code::Internal, None),
            (Code::Unknown, None),
            (Code::Cancelled, None),
            (Code::Unimplemented, None),
            (Code::DataLoss, None),
            (Code::Ok, None),
        ];
        for (code, http) in table {
            let refused = refusal(Action::Deploy, &tonic::Status::new(code, "m"));
            assert_eq!(refused.map(|r| r.status), http, "{code:?}");
        }
    }
}
