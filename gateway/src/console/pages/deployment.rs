//! `/_eyrie/p/<project>/dg/<group>/d/<deployment>`: a deployment's fields, operations, jobs and
//! versions, and the diff of two versions (`?from=&to=`, a GET form).

use askama::Template;
use axum::{
    extract::{Path, Query},
    response::{IntoResponse as _, Response},
};
use eyrie_proto::v1 as pb;
use serde::Deserialize;
use tonic::Code;

use super::{
    ClusterView, OperationView, Places, ScopeView,
    actions::{ActionsView, Refused},
    href, id,
};
use crate::console::{PageError, SignedIn, render, view};

/// Operations and jobs shown (the latest).
const RECENT: i32 = 50;
/// Versions offered to compare.
const VERSIONS: i32 = 1000;

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    chrome: view::Chrome,
    d: pb::Deployment,
    kind: &'static str,
    state: view::Badge,
    running_jobs_text: String,
    scope: ScopeView,
    clusters: Vec<ClusterView>,
    parameters: Vec<(String, String)>,
    created: (String, String),
    updated: (String, String),
    operations: Vec<OperationView>,
    jobs: Vec<JobView>,
    versions: Vec<VersionView>,
    diff_from: i64,
    diff_to: i64,
    diff: Option<Vec<ChangeView>>,
    diff_error: Option<String>,
    actions: Option<ActionsView>,
    refused: Option<Refused>,
}

struct JobView {
    id: String,
    phase: &'static str,
    status: view::Badge,
    book: String,
    time: String,
    datetime: String,
    message: String,
}

struct VersionView {
    number: i64,
    reason: String,
    changed: String,
    actor: String,
    time: String,
    datetime: String,
}

struct ChangeView {
    field: String,
    kind: &'static str,
    old_value: String,
    new_value: String,
}

/// The versions to compare, as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// `GET /_eyrie/p/{project}/dg/{group}/d/{deployment}`.
pub async fn page(
    signed_in: SignedIn,
    Path((project, group, deployment)): Path<(String, String, String)>,
    Query(diff_query): Query<DiffQuery>,
) -> Result<Response, PageError> {
    show(
        signed_in,
        [&project, &group, &deployment],
        &diff_query,
        None,
    )
    .await
}

/// The page of the deployment of `ids` (project, group, deployment); with the API's refusal of
/// an action on it, under the refusal's status.
pub async fn show(
    signed_in: SignedIn,
    [project, group, deployment]: [&String; 3],
    diff_query: &DiffQuery,
    refused: Option<Refused>,
) -> Result<Response, PageError> {
    let project_name = format!("projects/{}", id(project)?);
    let group_name = format!("{project_name}/groups/{}", id(group)?);
    let name = format!("{group_name}/deployments/{}", id(deployment)?);
    let api = signed_in.api();
    let mut operations_client = api.deployments();
    let mut jobs_client = api.jobs();
    let mut versions_client = api.versions();
    let (project_found, group_found, d, operations, jobs, versions, places) = tokio::try_join!(
        api.project(&project_name),
        api.group(&group_name),
        api.deployment(&name),
        async {
            operations_client
                .list_operations(pb::ListOperationsRequest {
                    parent: name.clone(),
                    page_size: RECENT,
                    ..Default::default()
                })
                .await
                .map_err(PageError::from)
        },
        async {
            jobs_client
                .list_jobs(pb::ListJobsRequest {
                    parent: name.clone(),
                    page_size: RECENT,
                    ..Default::default()
                })
                .await
                .map_err(PageError::from)
        },
        async {
            versions_client
                .list_versions(pb::ListVersionsRequest {
                    parent: name.clone(),
                    page_size: VERSIONS,
                    ..Default::default()
                })
                .await
                .map(|listed| listed.into_inner().versions)
                .map_err(PageError::from)
        },
        Places::of(&signed_in, &project_name),
    )?;

    let latest = versions.first().map_or(0, |v| v.number);
    let (diff_from, diff_to, diff, diff_error) =
        compare(signed_in.api(), &name, diff_query, latest).await?;

    let mut parameters: Vec<(String, String)> = d
        .parameters
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    parameters.sort();
    let scope = places.scope(&d.scope);
    let status = refused
        .as_ref()
        .map_or(http::StatusCode::OK, |refused| refused.status);
    let page = DeploymentPage {
        chrome: signed_in
            .chrome(d.display_name.clone())
            .crumb("Projects", "/_eyrie/")
            .crumb(project_found.display_name, href(project, None, None))
            .crumb(group_found.display_name, href(project, Some(group), None)),
        kind: view::deployment_type(d.r#type),
        state: view::deployment_state(d.state),
        running_jobs_text: view::running_jobs(d.running_job_count),
        actions: ActionsView::new(&signed_in, project, group, &d, &scope),
        scope,
        clusters: places.clusters(&d.clusters),
        parameters,
        created: (
            view::time(d.create_time.as_ref()),
            view::datetime(d.create_time.as_ref()),
        ),
        updated: (
            view::time(d.update_time.as_ref()),
            view::datetime(d.update_time.as_ref()),
        ),
        operations: operations
            .into_inner()
            .operations
            .iter()
            .map(OperationView::from)
            .collect(),
        jobs: jobs.into_inner().jobs.iter().map(job_view).collect(),
        versions: versions.iter().map(version_view).collect(),
        diff_from,
        diff_to,
        diff,
        diff_error,
        refused,
        d,
    };
    Ok((status, render(&page)).into_response())
}

type Comparison = (i64, i64, Option<Vec<ChangeView>>, Option<String>);

/// The diff the query asks for: the versions compared (by default the latest and the one
/// before), the changes, or why they cannot be compared.
async fn compare(
    api: &crate::console::api::Api,
    deployment: &str,
    query: &DiffQuery,
    latest: i64,
) -> Result<Comparison, PageError> {
    let default_to = latest;
    let default_from = (latest - 1).max(1);
    let (Some(from), Some(to)) = (&query.from, &query.to) else {
        return Ok((default_from, default_to, None, None));
    };
    let (Ok(from), Ok(to)) = (from.trim().parse::<i64>(), to.trim().parse::<i64>()) else {
        return Ok((
            default_from,
            default_to,
            None,
            Some("Versions are numbers: choose two in the lists.".to_owned()),
        ));
    };
    let diffed = api
        .versions()
        .diff_versions(pb::DiffVersionsRequest {
            from: format!("{deployment}/versions/{from}"),
            to: format!("{deployment}/versions/{to}"),
        })
        .await;
    match diffed {
        Ok(diffed) => {
            let changes = diffed
                .into_inner()
                .changes
                .into_iter()
                .map(|change| ChangeView {
                    kind: view::change_kind(change.kind),
                    field: change.field,
                    old_value: change.old_value,
                    new_value: change.new_value,
                })
                .collect();
            Ok((from, to, Some(changes), None))
        }
        Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => Ok((
            from,
            to,
            None,
            Some(format!(
                "Versions {from} and {to} cannot be compared: {}",
                status.message()
            )),
        )),
        Err(status) => Err(status.into()),
    }
}

fn job_view(job: &pb::Job) -> JobView {
    JobView {
        id: view::id_of(&job.name).to_owned(),
        phase: view::phase(job.phase),
        status: view::job_status(job.status),
        book: job.book.clone(),
        time: view::time(job.create_time.as_ref()),
        datetime: view::datetime(job.create_time.as_ref()),
        message: job.message.clone(),
    }
}

fn version_view(version: &pb::DeploymentVersion) -> VersionView {
    VersionView {
        number: version.number,
        reason: view::version_reason(version.reason, version.rollback_to_version),
        changed: version.changed_fields.join(", "),
        actor: version.actor.clone(),
        time: view::time(version.create_time.as_ref()),
        datetime: view::datetime(version.create_time.as_ref()),
    }
}
