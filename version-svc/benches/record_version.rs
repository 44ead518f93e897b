//! RecordVersion latency on PostgreSQL against a health-check round trip to the same server,
//! measured in the same run (machines here are noisy: ratios hold, absolute times drift).
//!
//! `EYRIE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/eyrie_bench cargo bench -p eyrie-version-svc --bench record_version`

use std::time::{Duration, Instant};

use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, fresh_schema_name},
};
use eyrie_proto::{
    internal::v1::{RecordVersionRequest, version_recorder_client::VersionRecorderClient},
    v1::{KeyFields, VersionReason},
};
use eyrie_version_svc::{Settings, VersionSvc};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const CALLS: i64 = 1000;

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(url) = std::env::var("EYRIE_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("set EYRIE_BENCH_DATABASE_URL to a PostgreSQL database to run this benchmark");
        return Ok(());
    };
    let settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: DatabaseSettings {
            schema: Some(fresh_schema_name()),
            ..DatabaseSettings::with_url(url)
        },
        ..Settings::default()
    };
    let server = TestServer::start::<VersionSvc>(settings).await?;
    let channel = server.channel().await?;
    let mut recorder = VersionRecorderClient::new(channel.clone());
    let mut health = HealthClient::new(channel);

    let mut records = Vec::new();
    let mut round_trips = Vec::new();
    for revision in 1..=CALLS {
        let started = Instant::now();
        health.check(HealthCheckRequest::default()).await?;
        round_trips.push(started.elapsed());

        // Every call changes the image: each one numbers and stores a new version.
        let request = RecordVersionRequest {
            deployment: format!("projects/bench/groups/g/deployments/d{}", revision % 10),
            revision,
            key_fields: Some(KeyFields {
                image: format!("registry.example/app:{revision}"),
                ..Default::default()
            }),
            actor: "tokens/bench".into(),
            reason: VersionReason::Update.into(),
            rollback_to_version: 0,
            time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            number: 0,
        };
        let started = Instant::now();
        recorder.record_version(request).await?;
        records.push(started.elapsed());
    }
    let record = median(&mut records);
    let round_trip = median(&mut round_trips);
    println!("| measure | median | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| RecordVersion ({CALLS} sequential calls, each a new version) | {record:?} | health check {round_trip:?} | {:.2}x |",
        record.as_secs_f64() / round_trip.as_secs_f64()
    );
    server.stop().await?;
    Ok(())
}
