//! A project with one deployment, made through the gateway as a user would.

use eyrie_tests::{Suite, journey::Gateway};

/// The deployment every row reads or updates.
pub const DEPLOYMENT: &str = "projects/bench/groups/web/deployments/shop";

/// Creates project `bench` with scope, `directory` cluster, group `web` and deployment `shop`.
pub async fn seed(suite: &Suite) -> anyhow::Result<()> {
    let mut gateway = Gateway::new(suite.gateway_channel().await?, suite.admin_token.clone());
    gateway
        .create_shop("bench", "Bench", &suite.clusters_dir().join("local"))
        .await?;
    Ok(())
}
