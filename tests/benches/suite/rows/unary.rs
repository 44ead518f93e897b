//! B1: a unary call through the gateway (with authentication and authorization) against the
//! same call straight to deployment-svc, and a bare tonic echo pair.

use eyrie_proto::v1::{self as pb, deployment_service_client::DeploymentServiceClient};
use eyrie_tests::{Suite, SuiteConfig, auth::with_token};

use super::{measure, seed};
use crate::{
    Scale,
    echo::Echo,
    report::{Row, verdict},
    stats::{Samples, ms, ratio},
};

const CONCURRENCY: usize = 8;
const ROUNDS: usize = 3;

pub async fn run(scale: Scale) -> anyhow::Result<Vec<Row>> {
    // One token makes every call here: its rate limit would measure the limiter, not the path.
    let suite = Suite::start_with(SuiteConfig {
        gateway: "[limits]\nrequests_per_second = 0.0\n".into(),
        ..SuiteConfig::default()
    })
    .await?;
    seed::seed(&suite).await?;
    let gateway = DeploymentServiceClient::new(suite.gateway_channel().await?);
    let direct = DeploymentServiceClient::new(suite.deployment.channel().await?);
    let echo = std::sync::Arc::new(Echo::start().await?);
    let token = suite.admin_token.clone();
    let request = || pb::GetDeploymentRequest {
        name: seed::DEPLOYMENT.into(),
    };

    let through_gateway = move || {
        let mut client = gateway.clone();
        let request = with_token(&token, request());
        async move {
            client.get_deployment(request).await?;
            anyhow::Ok(())
        }
    };
    let straight = move || {
        let mut client = direct.clone();
        async move {
            client.get_deployment(request()).await?;
            anyhow::Ok(())
        }
    };
    let bare = move || {
        let echo = echo.clone();
        async move { echo.call().await }
    };

    // Warm connections and caches, then alternate the series so drift hits all three alike.
    let per_round = scale.calls / ROUNDS;
    measure(100, CONCURRENCY, through_gateway.clone()).await?;
    measure(100, CONCURRENCY, straight.clone()).await?;
    measure(100, CONCURRENCY, bare.clone()).await?;
    let (mut g, mut d, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        g.push(measure(per_round, CONCURRENCY, through_gateway.clone()).await?);
        d.push(measure(per_round, CONCURRENCY, straight.clone()).await?);
        e.push(measure(per_round, CONCURRENCY, bare.clone()).await?);
    }
    let (g, d, e) = (merge(g), merge(d), merge(e));
    let p50 = ratio(g.p50(), d.p50());
    Ok(vec![
        Row {
            id: "B1",
            what: format!("GetDeployment through the gateway, concurrency {CONCURRENCY}, p50"),
            value: ms(g.p50()),
            floor: format!(
                "direct to deployment-svc {}; tonic echo {}",
                ms(d.p50()),
                ms(e.p50())
            ),
            ratio: format!("{p50:.2}x direct, {:.2}x echo", ratio(g.p50(), e.p50())),
            target: format!("≤ 1.3x direct: {}", verdict(p50 <= 1.3)),
        },
        Row {
            id: "B1",
            what: "the same, p99".into(),
            value: ms(g.p99()),
            floor: format!("direct {}; echo {}", ms(d.p99()), ms(e.p99())),
            ratio: format!("{:.2}x direct", ratio(g.p99(), d.p99())),
            target: "—".into(),
        },
    ])
}

fn merge(series: Vec<Samples>) -> Samples {
    Samples::new(series.into_iter().flat_map(Samples::into_inner).collect())
}
