//! B5: UpdateDeployment changing a key field (which records a version) against the same update
//! changing a field that is not a key field.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use eyrie_tests::Suite;

use super::{measure, seed};
use crate::{
    Scale,
    report::{Row, verdict},
    stats::{Samples, ms, ratio},
};

const ROUNDS: usize = 3;

fn update(field: &str, value: String) -> pb::UpdateDeploymentRequest {
    let mut deployment = pb::Deployment {
        name: seed::DEPLOYMENT.into(),
        ..Default::default()
    };
    match field {
        "image" => deployment.image = value,
        _ => deployment.display_name = value,
    }
    pb::UpdateDeploymentRequest {
        deployment: Some(deployment),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![field.to_owned()],
        }),
        ..Default::default()
    }
}

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let suite = Suite::start().await?;
    seed::seed(&suite).await?;
    let client = DeploymentServiceClient::new(suite.deployment.channel().await?);
    let counter = Arc::new(AtomicUsize::new(0));
    let call = |field: &'static str| {
        let client = client.clone();
        let counter = counter.clone();
        move || {
            let mut client = client.clone();
            // Each call sets a new value, so each key-field update is a real change.
            let value = match field {
                "image" => format!("nginx:1.{}", counter.fetch_add(1, Ordering::Relaxed)),
                _ => format!("Shop {}", counter.fetch_add(1, Ordering::Relaxed)),
            };
            async move {
                client.update_deployment(update(field, value)).await?;
                anyhow::Ok(())
            }
        }
    };
    let per_round = (scale.calls / 4 / ROUNDS).max(5);
    measure(20, 1, call("image")).await?;
    measure(20, 1, call("display_name")).await?;
    let (mut key, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        key.extend(measure(per_round, 1, call("image")).await?.into_inner());
        plain.extend(
            measure(per_round, 1, call("display_name"))
                .await?
                .into_inner(),
        );
    }
    let (key, plain) = (Samples::new(key), Samples::new(plain));
    let p50 = ratio(key.p50(), plain.p50());
    Ok(vec![Row {
        id: "B5",
        what: "UpdateDeployment of a key field (image: records a version), p50".into(),
        value: ms(key.p50()),
        floor: format!("update of display_name {}", ms(plain.p50())),
        ratio: format!("{p50:.2}x"),
        target: format!("≤ 1.3x: {}", verdict(p50 <= 1.3)),
    }])
}
