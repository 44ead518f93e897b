//! The read-modify-write of parameters against a server whose deployment changes meanwhile.

use std::sync::{Arc, Mutex};

use clap::Parser;
use eyrie_proto::v1::deployment_service_server::{DeploymentService, DeploymentServiceServer};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use super::*;
use crate::client::connection::Connection;

const NAME: &str = "projects/shop/groups/erp/deployments/main";

/// One deployment whose parameters another writer changes right after the first read.
#[derive(Default)]
struct Racing {
    state: Mutex<RacingState>,
}

#[derive(Default)]
struct RacingState {
    parameters: HashMap<String, String>,
    revision: u64,
    reads: u32,
    /// Etags the updates came with.
    updates: Vec<String>,
}

fn etag(revision: u64) -> String {
    format!("\"{revision}\"")
}

#[tonic::async_trait]
impl DeploymentService for Racing {
    async fn get_deployment(
        &self,
        _request: Request<GetDeploymentRequest>,
    ) -> Result<Response<Deployment>, Status> {
        let mut state = self.state.lock().unwrap();
        state.reads += 1;
        let answer = Deployment {
            name: NAME.into(),
            parameters: state.parameters.clone(),
            etag: etag(state.revision),
            ..Default::default()
        };
        // Another writer changes the deployment right after the first read.
        if state.reads == 1 {
            state
                .parameters
                .insert("db_user".into(), "set-meanwhile".into());
            state.revision += 1;
        }
        Ok(Response::new(answer))
    }

    async fn update_deployment(
        &self,
        request: Request<UpdateDeploymentRequest>,
    ) -> Result<Response<Deployment>, Status> {
        let mut state = self.state.lock().unwrap();
        let deployment = request.into_inner().deployment.unwrap();
        state.updates.push(deployment.etag.clone());
        if deployment.etag != etag(state.revision) {
            return Err(Status::aborted("the deployment changed since it was read"));
        }
        state.parameters = deployment.parameters;
        state.revision += 1;
        Ok(Response::new(Deployment {
            name: NAME.into(),
            parameters: state.parameters.clone(),
            etag: etag(state.revision),
            ..Default::default()
        }))
    }
}

#[derive(Parser)]
struct Options {
    #[command(flatten)]
    fields: Fields,
}

fn fields(args: &[&str]) -> Fields {
    Options::try_parse_from(std::iter::once("update").chain(args.iter().copied()))
        .unwrap()
        .fields
}

async fn serve(racing: Arc<Racing>) -> DeploymentServiceClient<Authorized> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeploymentServiceServer::from_arc(racing))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Connection::open(
        &format!("http://{address}"),
        Some("token"),
        &Default::default(),
    )
    .await
    .unwrap()
    .deployments()
}

fn racing(parameters: &[(&str, &str)]) -> Arc<Racing> {
    let racing = Racing::default();
    racing.state.lock().unwrap().parameters = parameters
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    Arc::new(racing)
}

#[tokio::test]
async fn a_parameter_update_that_loses_a_race_reads_again_and_keeps_the_other_change() {
    let racing = racing(&[("host", "old.example"), ("debug", "1")]);
    let mut client = serve(racing.clone()).await;

    let updated = update(
        &mut client,
        NAME.into(),
        &fields(&["--param", "host=new.example", "--param", "debug-"]),
        None,
    )
    .await
    .unwrap();

    let expected: HashMap<String, String> = [("host", "new.example"), ("db_user", "set-meanwhile")]
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .into();
    assert_eq!(updated.parameters, expected);
    let state = racing.state.lock().unwrap();
    assert_eq!(state.parameters, expected, "what the server keeps");
    // The first write carried the etag of the first read and lost; the second the fresh one.
    assert_eq!(state.updates, [etag(0), etag(1)]);
}

#[tokio::test]
async fn with_the_users_own_etag_a_lost_race_is_reported_not_retried() {
    let racing = racing(&[("host", "old.example")]);
    let mut client = serve(racing.clone()).await;

    let error = update(
        &mut client,
        NAME.into(),
        &fields(&["--param", "host=new.example"]),
        Some(etag(0)),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&error, CliError::Refused(status) if status.code() == Code::Aborted),
        "{error:?}"
    );
    let state = racing.state.lock().unwrap();
    assert_eq!(state.updates, [etag(0)], "tried once");
    assert_eq!(state.parameters["host"], "old.example");
}
