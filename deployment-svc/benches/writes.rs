//! CreateDeployment and UpdateDeployment latency on PostgreSQL (each writes the change and its
//! version record in one transaction), against a GetDeployment round trip of the same run.
//!
//! `EYRIE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/eyrie_bench cargo bench -p eyrie-deployment-svc --bench writes`

use std::time::{Duration, Instant};

use eyrie_deployment_svc::{DeploymentSvc, Settings};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, fresh_schema_name},
};
use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};

const CALLS: usize = 300;

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
    let server = TestServer::start::<DeploymentSvc>(settings).await?;
    let mut client = DeploymentServiceClient::new(server.channel().await?);
    client
        .create_project(pb::CreateProjectRequest {
            project_id: "bench".into(),
            project: Some(pb::Project {
                display_name: "Bench".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    client
        .create_scope(pb::CreateScopeRequest {
            parent: "projects/bench".into(),
            scope_id: "dev".into(),
            scope: Some(pb::Scope {
                display_name: "Dev".into(),
                allow_drop: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    client
        .create_cluster(pb::CreateClusterRequest {
            parent: "projects/bench".into(),
            cluster_id: "c1".into(),
            cluster: Some(pb::Cluster {
                display_name: "C1".into(),
                connection: Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        path: "/tmp/bench".into(),
                        simulated: false,
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    client
        .create_deployment_group(pb::CreateDeploymentGroupRequest {
            parent: "projects/bench".into(),
            deployment_group_id: "apps".into(),
            deployment_group: Some(pb::DeploymentGroup {
                display_name: "Apps".into(),
                r#type: pb::DeploymentType::None.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;

    let (mut creates, mut updates, mut reads) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..CALLS {
        let started = Instant::now();
        let created = client
            .create_deployment(pb::CreateDeploymentRequest {
                parent: "projects/bench/groups/apps".into(),
                deployment_id: format!("d{index}"),
                deployment: Some(pb::Deployment {
                    display_name: format!("d{index}"),
                    scope: "projects/bench/scopes/dev".into(),
                    clusters: vec!["projects/bench/clusters/c1".into()],
                    image: "nginx:1.27".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        creates.push(started.elapsed());

        let started = Instant::now();
        client
            .get_deployment(pb::GetDeploymentRequest {
                name: created.name.clone(),
            })
            .await?;
        reads.push(started.elapsed());

        let started = Instant::now();
        client
            .update_deployment(pb::UpdateDeploymentRequest {
                deployment: Some(pb::Deployment {
                    name: created.name,
                    image: "nginx:1.28".into(),
                    etag: created.etag,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["image".into()],
                }),
                ..Default::default()
            })
            .await?;
        updates.push(started.elapsed());
    }
    let read = median(&mut reads);
    println!("| measure ({CALLS} calls each) | median | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    for (what, samples) in [
        ("CreateDeployment (+ version record)", &mut creates),
        (
            "UpdateDeployment of the image (+ version record)",
            &mut updates,
        ),
    ] {
        let value = median(samples);
        println!(
            "| {what} | {value:?} | GetDeployment {read:?} | {:.2}x |",
            value.as_secs_f64() / read.as_secs_f64()
        );
    }
    server.stop().await?;
    Ok(())
}
