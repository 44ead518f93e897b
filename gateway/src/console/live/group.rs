//! `GET /_eyrie/p/<project>/dg/<group>/events`: the group page's cards, live.
//!
//! Fed by WatchDeployments, called in process (so through the gateway's `GroupFeeds`: one
//! upstream stream per group, whoever watches). Each deployment's state, when the stream
//! opens and after each change, is sent as its card, re-rendered, in the event
//! `deployment-<slug>` (the card swaps itself, `hx-swap="outerHTML"`). A deployment the page
//! does not show yet (created since) is sent once as `deployment-added`, appended to the list.
//!
//! WatchDeployments has no resume point: a stream always starts with the current state of
//! every deployment. So a reconnecting EventSource loses no change: it gets every card again.
//! What it must not get twice is an added card: event ids carry the latest creation time
//! (microseconds) of the deployments the page holds, which the EventSource sends back as
//! `Last-Event-ID`; the page's own URL carries it at first (`?known=`).

use std::collections::HashSet;

use askama::Template as _;
use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use eyrie_proto::v1::{self as pb, watch_deployments_response::Kind};
use http::HeaderMap;
use serde::Deserialize;

use super::{Gone, Outbox, SessionCheck, last_event_id, refused, respond, slug};
use crate::console::{
    Console, PageError, SignedIn,
    pages::{
        Places,
        group::{CardFragment, DeploymentCard},
        job::{job_href, running_job},
    },
};

/// The event that adds a card to the list.
pub const ADDED: &str = "deployment-added";

/// The query of the stream's URL.
#[derive(Debug, Default, Deserialize)]
pub struct Known {
    /// The latest creation time (µs since the epoch) among the deployments the page shows.
    #[serde(default)]
    known: Option<String>,
}

/// The URL of the stream of the group at `group_href` whose page shows `deployments`.
pub fn events_url(group_href: &str, deployments: &[pb::Deployment]) -> String {
    let known = deployments.iter().filter_map(created).max().unwrap_or(0);
    format!("{group_href}/events?known={known}")
}

/// When `deployment` was created, in µs since the epoch.
fn created(deployment: &pb::Deployment) -> Option<i64> {
    let time = deployment.create_time.as_ref()?;
    Some(time.seconds * 1_000_000 + i64::from(time.nanos / 1000))
}

/// `GET /_eyrie/p/{project}/dg/{group}/events`.
pub async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, PageError>,
    Path((project, group)): Path<(String, String)>,
    Query(query): Query<Known>,
) -> Response {
    let signed_in = match signed_in {
        Ok(signed_in) => signed_in,
        Err(error) => return refused(error),
    };
    // The page's cards hold every deployment created up to `known`.
    let known = last_event_id(&headers)
        .or(query.known.as_deref())
        .and_then(|value| value.parse::<i64>().ok());
    match open(signed_in, project, group, known).await {
        Ok((cards, watch)) => respond(SessionCheck::new(console, &headers), move |outbox| {
            cards.run(watch, outbox)
        }),
        Err(error) => refused(error),
    }
}

/// Opens the group's stream.
async fn open(
    signed_in: SignedIn,
    project: String,
    group: String,
    known: Option<i64>,
) -> Result<(Cards, tonic::Streaming<pb::WatchDeploymentsResponse>), PageError> {
    let project_name = format!("projects/{}", slug(&project)?);
    let group_name = format!("{project_name}/groups/{}", slug(&group)?);
    let places = Places::of(&signed_in, &project_name).await?;
    let watch = signed_in
        .api()
        .deployments()
        .watch_deployments(pb::WatchDeploymentsRequest {
            parent: group_name,
            show_dropped: false,
        })
        .await?
        .into_inner();
    let cards = Cards {
        signed_in,
        project,
        group,
        places,
        known,
        seen: HashSet::new(),
        initial: true,
        latest: known,
    };
    Ok((cards, watch))
}

/// One stream's view of what its page holds.
struct Cards {
    signed_in: SignedIn,
    project: String,
    group: String,
    places: Places,
    /// The page holds every deployment created up to this.
    known: Option<i64>,
    /// Deployments sent on this stream.
    seen: HashSet<String>,
    /// Still in the stream's initial state.
    initial: bool,
    /// The latest creation time among the deployments sent: once the initial state is
    /// complete, the page holds every deployment created up to it (the events' id).
    latest: Option<i64>,
}

impl Cards {
    async fn run(
        mut self,
        mut watch: tonic::Streaming<pb::WatchDeploymentsResponse>,
        outbox: Outbox,
    ) -> Result<(), Gone> {
        // An error or the end of the upstream stream ends this one too: the EventSource
        // reconnects and gets every card again.
        while let Ok(Some(message)) = watch.message().await {
            match message.kind {
                Some(Kind::Deployment(deployment)) => self.send(&deployment, &outbox).await?,
                Some(Kind::InitialStateComplete(_)) => {
                    // Every deployment there is has been sent: the page holds them all.
                    self.initial = false;
                }
                Some(Kind::Heartbeat(_)) | None => {}
            }
        }
        Ok(())
    }

    /// Sends the card of `deployment`: as an addition when the page cannot hold it yet.
    async fn send(&mut self, deployment: &pb::Deployment, outbox: &Outbox) -> Result<(), Gone> {
        let created = created(deployment).unwrap_or(0);
        let first_time = self.seen.insert(deployment.slug.clone());
        // After the initial state every deployment there was has been sent: one never seen is
        // new. Before, one created after what the page holds is.
        let added =
            first_time && (!self.initial || self.known.is_some_and(|known| created > known));
        if first_time {
            self.latest = Some(self.latest.map_or(created, |latest| latest.max(created)));
        }
        let mut card = DeploymentCard::new(&self.project, &self.group, deployment, &self.places);
        if card.running_jobs > 0 && card.running_job_href.is_none() {
            let running = running_job(self.signed_in.api(), deployment).await;
            card.running_job_href = running.as_deref().and_then(job_href);
        }
        let Ok(html) = CardFragment { card }.render() else {
            tracing::error!(deployment = %deployment.name, "console: a card failed to render");
            return Ok(());
        };
        let name = if added {
            ADDED.to_owned()
        } else {
            format!("deployment-{}", deployment.slug)
        };
        // Until the initial state is complete the page may still miss deployments created
        // after what it held: a reconnection must not skip them.
        let holds = if self.initial {
            self.known
        } else {
            self.latest
        };
        let id = holds.map(|holds| holds.to_string());
        outbox.send(&name, id.as_deref(), &html).await
    }
}
