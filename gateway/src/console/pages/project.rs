//! `/_eyrie/p/<project>`: a project's deployment groups, scopes and clusters.

use askama::Template;
use axum::{extract::Path, response::Response};
use eyrie_proto::v1 as pb;

use super::{ClusterView, PAGE_SIZE, Places, ScopeView, id};
use crate::console::{PageError, SignedIn, render, view};

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    chrome: view::Chrome,
    project: pb::Project,
    groups: Vec<GroupView>,
    scopes: Vec<ScopeView>,
    clusters: Vec<ClusterView>,
}

struct GroupView {
    slug: String,
    display_name: String,
    kind: &'static str,
}

/// `GET /_eyrie/p/{project}`.
pub async fn page(signed_in: SignedIn, Path(project): Path<String>) -> Result<Response, PageError> {
    let name = format!("projects/{}", id(&project)?);
    let mut projects = signed_in.api().deployments();
    let mut groups = signed_in.api().deployments();
    let (project, groups, places) = tokio::try_join!(
        async {
            projects
                .get_project(pb::GetProjectRequest { name: name.clone() })
                .await
                .map_err(PageError::from)
        },
        async {
            groups
                .list_deployment_groups(pb::ListDeploymentGroupsRequest {
                    parent: name.clone(),
                    page_size: PAGE_SIZE,
                    ..Default::default()
                })
                .await
                .map_err(PageError::from)
        },
        Places::of(&signed_in, &name),
    )?;
    let project = project.into_inner();
    let groups = groups
        .into_inner()
        .deployment_groups
        .iter()
        .map(|group| GroupView {
            slug: group.slug.clone(),
            display_name: group.display_name.clone(),
            kind: view::deployment_type(group.r#type),
        })
        .collect();
    Ok(render(&ProjectPage {
        chrome: signed_in
            .chrome(project.display_name.clone())
            .crumb("Projects", "/_eyrie/"),
        groups,
        scopes: places.scopes.iter().map(ScopeView::from).collect(),
        clusters: places.clusters.iter().map(ClusterView::from).collect(),
        project,
    }))
}
