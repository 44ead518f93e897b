//! B2: how long a job event takes from its publication to a client watching through the
//! gateway, with many watchers on the job against one, every event counted.
//!
//! The job's events come from a publisher standing in for book-runner-svc, so that the pace
//! (50 events/s) and the publication instant are exact; the gateway is the real process.

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use eyrie_proto::v1::{self as pb, job_service_client::JobServiceClient};
use eyrie_tests::{ServiceConfig, ServiceProcess, auth};
use tonic::transport::Channel;

use eyrie_tests::scripted_job::{JOB, ScriptedJob};

use crate::{
    Scale,
    report::{Row, verdict},
    stats::{Samples, ms, ratio},
};

const EVENTS_PER_SECOND: u64 = 50;
const CONNECTIONS: usize = 10;

/// A gateway process in front of `publisher`, and its admin token.
pub async fn gateway_for(
    publisher: &ScriptedJob,
    dir: &Path,
) -> anyhow::Result<(ServiceProcess, String)> {
    let url = publisher.serve().await?;
    let gateway = ServiceProcess::start(
        "gateway",
        ServiceConfig::for_service(
            "gateway",
            dir,
            &format!(
                "[backends]\nbook_runner = \"{url}\"\n\n[limits]\nrequests_per_second = 0.0\n"
            ),
        ),
    )
    .await?;
    let token = auth::admin_token(dir);
    Ok((gateway, token))
}

/// Opens `count` watchers of the job over a few connections.
pub async fn open_watchers(
    gateway: &ServiceProcess,
    token: &str,
    count: usize,
) -> anyhow::Result<Vec<tonic::Streaming<pb::WatchJobResponse>>> {
    let mut channels: Vec<Channel> = Vec::new();
    for _ in 0..CONNECTIONS.min(count) {
        channels.push(gateway.channel().await?);
    }
    let mut opening = Vec::new();
    for index in 0..count {
        let mut client = JobServiceClient::new(channels[index % channels.len()].clone());
        let request = auth::with_token(
            token,
            pb::WatchJobRequest {
                name: JOB.into(),
                after_sequence: 0,
            },
        );
        opening.push(async move { client.watch_job(request).await });
    }
    let mut streams = Vec::new();
    for opened in futures::future::join_all(opening).await {
        streams.push(opened?.into_inner());
    }
    Ok(streams)
}

/// What one watcher saw: delivery latencies, and the sequences received.
async fn follow(mut stream: tonic::Streaming<pb::WatchJobResponse>) -> (Vec<Duration>, Vec<u64>) {
    let (mut latencies, mut sequences) = (Vec::new(), Vec::new());
    while let Ok(Some(message)) = stream.message().await {
        if let Some(pb::watch_job_response::Kind::Event(event)) = message.kind {
            let now = SystemTime::now();
            let published = event
                .time
                .and_then(|t| SystemTime::try_from(t).ok())
                .unwrap_or(now);
            latencies.push(now.duration_since(published).unwrap_or_default());
            sequences.push(event.sequence);
        }
    }
    (latencies, sequences)
}

/// One run's findings.
struct Run {
    latencies: Samples,
    missed: usize,
    duplicated: usize,
    /// Gateway CPU time per event delivered to one watcher.
    gateway_cpu_per_delivery: Duration,
}

/// One run: `watchers` follow a job publishing for `seconds`; latencies and delivery errors.
async fn one_run(watchers: usize, seconds: u64) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let publisher = ScriptedJob::default();
    publisher.log(30);
    let (gateway, token) = gateway_for(&publisher, dir.path()).await?;
    let streams = open_watchers(&gateway, &token, watchers).await?;
    let followers: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(follow(s)))
        .collect();
    let cpu_before = super::cpu::of_process(gateway.pid());
    let mut ticks = tokio::time::interval(Duration::from_millis(1000 / EVENTS_PER_SECOND));
    for _ in 0..seconds * EVENTS_PER_SECOND {
        ticks.tick().await;
        publisher.log(30);
    }
    publisher.end();
    let expected: Vec<u64> = (1..=seconds * EVENTS_PER_SECOND + 2).collect();
    let (mut all, mut missed, mut duplicated) = (Vec::new(), 0, 0);
    for follower in followers {
        let (latencies, sequences) = follower.await?;
        // The first event was published before the watchers came: not a delivery latency.
        all.extend(latencies.into_iter().skip(1));
        let mut unique = sequences.clone();
        unique.dedup();
        duplicated += sequences.len() - unique.len();
        missed += expected.iter().filter(|s| !unique.contains(s)).count();
    }
    let cpu = super::cpu::of_process(gateway.pid()).saturating_sub(cpu_before);
    drop(gateway);
    let deliveries = u32::try_from((watchers * expected.len()).max(1)).unwrap_or(u32::MAX);
    Ok(Run {
        latencies: Samples::new(all),
        missed,
        duplicated,
        gateway_cpu_per_delivery: cpu / deliveries,
    })
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let one = one_run(1, scale.event_seconds).await?.latencies;
    let Run {
        latencies: many,
        missed,
        duplicated,
        gateway_cpu_per_delivery,
    } = one_run(scale.watchers, scale.event_seconds).await?;
    let p99 = ratio(many.p99(), one.p99());
    let met =
        p99 <= 2.0 && many.p99() <= Duration::from_millis(50) && missed == 0 && duplicated == 0;
    let cpu_met = gateway_cpu_per_delivery <= Duration::from_micros(3);
    Ok(vec![
        Row {
            id: "B2",
            what: format!(
                "job event published → received through the gateway, {} watchers, {EVENTS_PER_SECOND} events/s, p99 ({missed} missed, {duplicated} duplicated)",
                scale.watchers
            ),
            value: ms(many.p99()),
            floor: format!("1 watcher {}", ms(one.p99())),
            ratio: format!("{p99:.2}x"),
            target: format!(
                "≤ 2x and ≤ 50 ms, none missed or duplicated: {}",
                verdict(met)
            ),
        },
        Row {
            id: "B2 profile",
            what: format!(
                "gateway CPU time per event delivered to one watcher ({} watchers)",
                scale.watchers
            ),
            value: format!("{:.1} µs", gateway_cpu_per_delivery.as_secs_f64() * 1e6),
            floor: "—".into(),
            ratio: "—".into(),
            target: format!("≤ 3 µs: {}", verdict(cpu_met)),
        },
    ])
}
