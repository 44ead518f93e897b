//! `/_eyrie/`: the projects the signed-in token can see.

use askama::Template;
use axum::response::Response;
use eyrie_proto::v1 as pb;

use super::PAGE_SIZE;
use crate::console::{PageError, SignedIn, render, view::Chrome};

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    projects: Vec<pb::Project>,
    more: bool,
}

/// `GET /_eyrie/`.
pub async fn page(signed_in: SignedIn) -> Result<Response, PageError> {
    let listed = signed_in
        .api()
        .deployments()
        .list_projects(pb::ListProjectsRequest {
            page_size: PAGE_SIZE,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(render(&ProjectsPage {
        chrome: signed_in.chrome("Projects"),
        more: !listed.next_page_token.is_empty(),
        projects: listed.projects,
    }))
}
