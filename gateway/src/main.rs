//! Runs gateway alone, as in production: `gateway [--config FILE]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eyrie_platform::standalone::main::<eyrie_gateway::Gateway>().await
}
