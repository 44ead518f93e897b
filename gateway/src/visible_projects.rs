//! ListProjects for callers who are not global admins: the projects they hold a role on.
//!
//! deployment-svc knows nothing of tokens, so the gateway answers this one list itself from the
//! caller's role bindings, reading each project from deployment-svc (a caller holds few roles).

use bytes::Bytes;
use eyrie_platform::paging;
use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use futures::StreamExt as _;
use prost::Message as _;
use tonic::{Code, Request, Response, Status};

use crate::forward::{Answer, Call};

/// The gRPC path this module answers.
pub const LIST_PROJECTS: &str = "/eyrie.v1.DeploymentService/ListProjects";

/// Answers a ListProjects call with the caller's projects, ordered by name, a page at a time.
pub fn answer(call: Call) -> Answer {
    Box::pin(async move {
        let request = pb::ListProjectsRequest::decode(call.message.clone())
            .map_err(|_| Status::invalid_argument("the request is not a ListProjectsRequest"))?;
        let page_size = paging::page_size(request.page_size)
            .map_err(|v| eyrie_platform::status::invalid_argument(&[v]))?;
        let after: Option<String> = paging::decode_token(&request.page_token)
            .map_err(|v| eyrie_platform::status::invalid_argument(&[v]))?;
        let mut client = DeploymentServiceClient::new(call.channel.clone());
        let mut projects = Vec::new();
        let mut next_page_token = String::new();
        let candidates = call
            .grants
            .visible_projects()
            .filter(|slug| after.as_deref().is_none_or(|after| *slug > after));
        for slug in candidates {
            if projects.len() as u64 == page_size {
                next_page_token = paging::encode_token(&projects_last_slug(&projects));
                break;
            }
            let mut get = Request::new(pb::GetProjectRequest {
                name: format!("projects/{slug}"),
            });
            *get.metadata_mut() = call.metadata.clone();
            match client.get_project(get).await {
                Ok(project) => projects.push(project.into_inner()),
                // A binding may name a project that does not exist (yet).
                Err(status) if status.code() == Code::NotFound => {}
                Err(status) => return Err(status),
            }
        }
        let response = pb::ListProjectsResponse {
            projects,
            next_page_token,
        };
        let message = Bytes::from(response.encode_to_vec());
        Ok(Response::new(futures::stream::iter([Ok(message)]).boxed()))
    })
}

fn projects_last_slug(projects: &[pb::Project]) -> String {
    projects
        .last()
        .and_then(|project| project.name.strip_prefix("projects/"))
        .unwrap_or_default()
        .to_owned()
}
