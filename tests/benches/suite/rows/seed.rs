//! A project with one deployment, made through the gateway as a user would.

use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use eyrie_tests::{Suite, auth::with_token};

/// The deployment every row reads or updates.
pub const DEPLOYMENT: &str = "projects/bench/groups/web/deployments/shop";

/// Creates project `bench` with scope, `directory` cluster, group `web` and deployment `shop`.
pub async fn seed(suite: &Suite) -> anyhow::Result<()> {
    let token = suite.admin_token.as_str();
    let mut client = DeploymentServiceClient::new(suite.gateway_channel().await?);
    client
        .create_project(with_token(
            token,
            pb::CreateProjectRequest {
                project_id: "bench".into(),
                project: Some(pb::Project {
                    display_name: "Bench".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await?;
    client
        .create_scope(with_token(
            token,
            pb::CreateScopeRequest {
                parent: "projects/bench".into(),
                scope_id: "dev".into(),
                scope: Some(pb::Scope {
                    display_name: "Dev".into(),
                    allow_drop: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await?;
    client
        .create_cluster(with_token(
            token,
            pb::CreateClusterRequest {
                parent: "projects/bench".into(),
                cluster_id: "local".into(),
                cluster: Some(pb::Cluster {
                    display_name: "Local".into(),
                    connection: Some(pb::cluster::Connection::Directory(
                        pb::DirectoryConnection {
                            path: suite.clusters_dir().join("local").display().to_string(),
                        },
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await?;
    client
        .create_deployment_group(with_token(
            token,
            pb::CreateDeploymentGroupRequest {
                parent: "projects/bench".into(),
                deployment_group_id: "web".into(),
                deployment_group: Some(pb::DeploymentGroup {
                    display_name: "Web".into(),
                    r#type: pb::DeploymentType::None.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await?;
    client
        .create_deployment(with_token(
            token,
            pb::CreateDeploymentRequest {
                parent: "projects/bench/groups/web".into(),
                deployment_id: "shop".into(),
                deployment: Some(pb::Deployment {
                    display_name: "Shop".into(),
                    scope: "projects/bench/scopes/dev".into(),
                    clusters: vec!["projects/bench/clusters/local".into()],
                    image: "nginx:1.27".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await?;
    Ok(())
}
