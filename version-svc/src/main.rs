//! Runs version-svc alone, as in production: `version-svc [--config FILE]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eyrie_platform::standalone::main::<eyrie_version_svc::VersionSvc>().await
}
