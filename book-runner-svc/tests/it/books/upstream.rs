//! RenderBook for a deployment by name: its snapshot comes from deployment-svc (a fake here),
//! whose refusals pass through.

use eyrie_book_runner_svc::{Settings, config::Peers};
use eyrie_platform::{
    ServerSettings,
    testing::{describe, test_databases},
};
use eyrie_proto::{
    internal::v1::{
        GetDeploymentSnapshotRequest,
        deployment_callbacks_server::{DeploymentCallbacks, DeploymentCallbacksServer},
    },
    v1::{
        DeploymentSnapshot, DeploymentType, OperationAction, RenderBookRequest,
        render_book_request::{BookRef, Target},
    },
};
use tonic::{Code, Request, Response, Status, transport::server::TcpIncoming};

use super::harness::{snapshot, start_with};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

/// deployment-svc knowing one deployment, `shop`.
struct FakeDeployments;

#[tonic::async_trait]
impl DeploymentCallbacks for FakeDeployments {
    async fn get_deployment_snapshot(
        &self,
        request: Request<GetDeploymentSnapshotRequest>,
    ) -> Result<Response<DeploymentSnapshot>, Status> {
        let deployment = request.into_inner().deployment;
        if deployment == SHOP {
            Ok(Response::new(snapshot(
                DeploymentType::None,
                &[("host", "web.example")],
            )))
        } else {
            Err(Status::not_found(format!(
                "deployment {deployment:?} not found"
            )))
        }
    }
}

/// Serves the fake on a free loopback port; returns its URL.
async fn fake_deployment_svc() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeploymentCallbacksServer::new(FakeDeployments))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("http://{address}")
}

fn render_for(deployment: &str) -> RenderBookRequest {
    RenderBookRequest {
        book_ref: Some(BookRef::Name("books/none-deploy".into())),
        target: Some(Target::Deployment(deployment.into())),
        action: OperationAction::Deploy.into(),
    }
}

#[tokio::test]
async fn a_deployment_is_rendered_from_its_current_snapshot() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start_with(Settings {
            server: ServerSettings::loopback_any_port(),
            database,
            peers: Peers {
                deployment: Some(fake_deployment_svc().await),
            },
            ..Settings::default()
        })
        .await;
        let response = running
            .books
            .render_book(render_for(SHOP))
            .await
            .unwrap()
            .into_inner();
        let manifests: String = response
            .steps
            .iter()
            .filter_map(|step| step.with.get("manifest").cloned())
            .collect();
        assert!(
            manifests.contains("registry.example/shop:1.0"),
            "{backend}: {manifests}"
        );
        assert!(
            response
                .steps
                .iter()
                .all(|step| step.cluster == "projects/acme/clusters/c1"),
            "{backend}"
        );

        let status = running
            .books
            .render_book(render_for("projects/acme/groups/web/deployments/blog"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend}: {status:?}");
        assert!(
            status.message().contains("blog"),
            "{backend}: {}",
            status.message()
        );
    }
}
