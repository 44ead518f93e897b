//! `/_eyrie/p/<project>/dg/<group>`: one card per deployment of a group.
//!
//! Each card is `<li id="deployment-{slug}">`, the element live updates replace.

use askama::Template;
use axum::{extract::Path, response::Response};
use eyrie_proto::v1 as pb;

use super::{ClusterView, OperationView, PAGE_SIZE, Places, ScopeView, href, id};
use crate::console::{PageError, SignedIn, render, view};

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    chrome: view::Chrome,
    group_slug: String,
    kind: &'static str,
    cards: Vec<DeploymentCard>,
    more: bool,
    /// The New deployment form, for those who may create deployments (admins).
    new_deployment_href: Option<String>,
    /// The live stream of the cards (see `console::live::group`).
    events_url: String,
}

/// One deployment's card alone (`<li id="deployment-{slug}">`), as live updates send it.
#[derive(Template)]
#[template(path = "deployment_card.html")]
pub struct CardFragment {
    /// The card.
    pub card: DeploymentCard,
}

/// What the card of one deployment shows.
pub struct DeploymentCard {
    /// The deployment's id.
    pub slug: String,
    /// Its name.
    pub display_name: String,
    /// Its detail page.
    pub href: String,
    /// Its lifecycle state.
    pub state: view::Badge,
    /// Its scope.
    pub scope: ScopeView,
    /// Its clusters, in order.
    pub clusters: Vec<ClusterView>,
    /// Its image.
    pub image: String,
    /// Its branch.
    pub branch: String,
    /// Its last operation, if any.
    pub last_operation: Option<OperationView>,
    /// How many of its jobs are queued or running.
    pub running_jobs: i32,
    /// The same, in words.
    pub running_jobs_text: String,
    /// The running job's page, when jobs run and it is known.
    pub running_job_href: Option<String>,
}

impl DeploymentCard {
    /// The card of `deployment` in project `project`, group `group`.
    pub fn new(project: &str, group: &str, deployment: &pb::Deployment, places: &Places) -> Self {
        Self {
            slug: deployment.slug.clone(),
            display_name: deployment.display_name.clone(),
            href: href(project, Some(group), Some(&deployment.slug)),
            state: view::deployment_state(deployment.state),
            scope: places.scope(&deployment.scope),
            clusters: places.clusters(&deployment.clusters),
            image: deployment.image.clone(),
            branch: deployment.branch.clone(),
            last_operation: deployment.last_operation.as_ref().map(OperationView::from),
            running_jobs: deployment.running_job_count,
            running_jobs_text: view::running_jobs(deployment.running_job_count),
            running_job_href: (deployment.running_job_count > 0)
                .then(|| deployment.last_operation.as_ref()?.jobs.last())
                .flatten()
                .and_then(|job| super::job::job_href(job)),
        }
    }
}

/// `GET /_eyrie/p/{project}/dg/{group}`.
pub async fn page(
    signed_in: SignedIn,
    Path((project, group)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let project_name = format!("projects/{}", id(&project)?);
    let group_name = format!("{project_name}/groups/{}", id(&group)?);
    let api = signed_in.api();
    let mut deployments = api.deployments();
    let (project_found, group_found, listed, places) = tokio::try_join!(
        api.project(&project_name),
        api.group(&group_name),
        async {
            deployments
                .list_deployments(pb::ListDeploymentsRequest {
                    parent: group_name.clone(),
                    page_size: PAGE_SIZE,
                    ..Default::default()
                })
                .await
                .map_err(PageError::from)
        },
        Places::of(&signed_in, &project_name),
    )?;
    let listed = listed.into_inner();
    let mut cards = Vec::with_capacity(listed.deployments.len());
    for deployment in &listed.deployments {
        let mut card = DeploymentCard::new(&project, &group, deployment, &places);
        if card.running_jobs > 0 && card.running_job_href.is_none() {
            let running = super::job::running_job(signed_in.api(), deployment).await;
            card.running_job_href = running.as_deref().and_then(super::job::job_href);
        }
        cards.push(card);
    }
    let events_url = crate::console::live::group::events_url(
        &href(&project, Some(&group), None),
        &listed.deployments,
    );
    Ok(render(&GroupPage {
        chrome: signed_in
            .chrome(group_found.display_name.clone())
            .crumb("Projects", "/_eyrie/")
            .crumb(project_found.display_name, href(&project, None, None)),
        group_slug: group_found.slug,
        kind: view::deployment_type(group_found.r#type),
        cards,
        more: !listed.next_page_token.is_empty(),
        new_deployment_href: super::actions::at_least(&signed_in, &project_name, pb::Role::Admin)
            .then(|| format!("{}/new", href(&project, Some(&group), None))),
        events_url,
    }))
}

#[cfg(test)]
mod tests {
    use askama::Template as _;

    use super::*;

    #[test]
    fn a_card_renders_alone_escaped_with_its_state_in_words() {
        let places = Places {
            scopes: vec![pb::Scope {
                name: "projects/acme/scopes/dev".into(),
                slug: "dev".into(),
                display_name: "Dev".into(),
                allow_drop: true,
                ..Default::default()
            }],
            clusters: vec![pb::Cluster {
                name: "projects/acme/clusters/sim".into(),
                slug: "sim".into(),
                display_name: "Try-out".into(),
                connection: Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        path: "/srv/sim".into(),
                        simulated: true,
                    },
                )),
                ..Default::default()
            }],
        };
        let deployment = pb::Deployment {
            slug: "shop".into(),
            display_name: "<b>Shop</b>".into(),
            scope: "projects/acme/scopes/dev".into(),
            clusters: vec!["projects/acme/clusters/sim".into()],
            image: "nginx:1.27".into(),
            state: pb::DeploymentState::Deploy.into(),
            running_job_count: 2,
            ..Default::default()
        };
        let html = CardFragment {
            card: DeploymentCard::new("acme", "web", &deployment, &places),
        }
        .render()
        .unwrap();
        assert!(
            html.starts_with(
                r#"<li class="card deployment" id="deployment-shop" sse-swap="deployment-shop""#
            ),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        for text in [
            "deployed",
            "2 running jobs",
            "Try-out",
            "simulated",
            "Dev",
            "none yet",
        ] {
            assert!(html.contains(text), "{text}: {html}");
        }
    }
}
