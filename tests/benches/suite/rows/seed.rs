//! A project with one deployment, made through the gateway as a user would.

use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, journey::Gateway};

/// The deployment every row reads or updates.
pub const DEPLOYMENT: &str = "projects/bench/groups/web/deployments/shop";

/// Creates project `bench` with scope, `directory` cluster, group `web` and deployment `shop`.
pub async fn seed(suite: &Suite) -> anyhow::Result<()> {
    let mut gateway = Gateway::new(suite.gateway_channel().await?, suite.admin_token.clone());
    gateway.create_project("bench", "Bench").await?;
    gateway
        .create_scope("projects/bench", "dev", "Dev", true)
        .await?;
    gateway
        .create_directory_cluster(
            "projects/bench",
            "local",
            &suite.clusters_dir().join("local"),
        )
        .await?;
    gateway
        .create_group("projects/bench", "web", pb::DeploymentType::None)
        .await?;
    let request = gateway.request(pb::CreateDeploymentRequest {
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
    });
    gateway.deployments.create_deployment(request).await?;
    Ok(())
}
