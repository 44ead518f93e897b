//! Runs deployment-svc alone, as in production: `deployment-svc [--config FILE]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eyrie_platform::standalone::main::<eyrie_deployment_svc::DeploymentSvc>().await
}
