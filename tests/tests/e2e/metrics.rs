//! The metrics a running suite exports, read as Prometheus reads them (`GET /metrics` on every
//! service's port), and the dashboard and alert rules of `deploy/monitoring/` checked against
//! them: every metric they query must be one a service really exports.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use eyrie_proto::v1 as pb;
use eyrie_tests::{
    Suite,
    journey::{ClusterFolder, Controllers, Gateway},
    metrics::{Scrape, get_metrics, promql_metric_names, scrape},
};
use serde::Deserialize;

const SHOP: &str = "projects/acme/groups/web/deployments/shop";

/// How long what happens after a call's answer (a job's last write, the relay's delivery) may
/// take to show: only a bound on the wait, never a measure.
const SHOW_WAIT: Duration = Duration::from_secs(60);

/// Metric names Prometheus makes itself for every target, which no service exports.
const MADE_BY_PROMETHEUS: &[&str] = &["up"];

fn monitoring(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/monitoring")
        .join(file)
}

/// Scrapes `url` until `ready` holds (what follows an answer, like a delivery, lands a moment
/// later); the last scrape.
async fn scrape_until(url: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let wait = async {
        loop {
            let scraped = scrape(url).await.unwrap();
            if ready(&scraped) {
                return scraped;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    match tokio::time::timeout(SHOW_WAIT, wait).await {
        Ok(scraped) => scraped,
        Err(_) => panic!(
            "{url}/metrics never showed what was expected; last:\n{}",
            scrape(url).await.unwrap().text
        ),
    }
}

fn calls(scraped: &Scrape, service: &str, method: &str, code: &str) -> f64 {
    scraped
        .value(
            "rpc_server_duration_milliseconds_count",
            &[
                ("rpc_service", service),
                ("rpc_method", method),
                ("rpc_grpc_status_code", code),
            ],
        )
        .unwrap_or(0.0)
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Every `expr` of a Grafana dashboard's panels (rows' nested panels included).
fn dashboard_exprs(value: &serde_json::Value, exprs: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("expr", serde_json::Value::String(expr)) => exprs.push(expr.clone()),
                    _ => dashboard_exprs(inner, exprs),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                dashboard_exprs(item, exprs);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn a_running_suite_exports_the_metrics_the_dashboard_and_alerts_query() {
    let suite = Suite::start().await.unwrap();
    let cluster = ClusterFolder::new(suite.clusters_dir().join("local"));
    let _controllers = Controllers::start(cluster.root());
    let mut admin = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);

    // Calls, one failing with NOT_FOUND, one refused for its token; a Deploy whose job runs,
    // followed with WatchOperation (a watcher on the gateway).
    admin
        .create_shop("acme", "Acme", cluster.root())
        .await
        .unwrap();
    let missing = admin
        .deployment("projects/acme/groups/web/deployments/nothing-here")
        .await
        .unwrap_err();
    assert_eq!(
        missing
            .downcast_ref::<tonic::Status>()
            .map(tonic::Status::code),
        Some(tonic::Code::NotFound),
        "{missing:#}"
    );
    let refused = admin
        .as_token("eyr_not-a-token")
        .deployment(SHOP)
        .await
        .unwrap_err();
    assert_eq!(
        refused
            .downcast_ref::<tonic::Status>()
            .map(tonic::Status::code),
        Some(tonic::Code::Unauthenticated),
        "{refused:#}"
    );
    let deploy = admin.request(pb::DeployDeploymentRequest {
        name: SHOP.into(),
        ..Default::default()
    });
    let operation = admin
        .deployments
        .deploy_deployment(deploy)
        .await
        .unwrap()
        .into_inner();
    let ended = admin.ended(&operation.name).await.unwrap();
    assert_eq!(
        ended.status(),
        pb::OperationStatus::Succeeded,
        "{}",
        ended.message
    );
    admin.deployment(SHOP).await.unwrap();

    // The gateway: per-method counts by status code, the refusal, the watcher.
    let gateway = scrape_until(&suite.gateway.url(), |scraped| {
        scraped
            .value("eyrie_gateway_watchers", &[("kind", "operation")])
            .is_some_and(|open| open == 0.0)
    })
    .await;
    const DEPLOYMENTS: &str = "eyrie.v1.DeploymentService";
    assert!(
        calls(&gateway, DEPLOYMENTS, "GetDeployment", "0") >= 1.0,
        "{}",
        gateway.text
    );
    assert_eq!(
        calls(&gateway, DEPLOYMENTS, "GetDeployment", "5"),
        1.0,
        "the NOT_FOUND, by its code: {}",
        gateway.text
    );
    assert_eq!(
        calls(&gateway, DEPLOYMENTS, "CreateDeployment", "0"),
        1.0,
        "{}",
        gateway.text
    );
    assert_eq!(
        calls(&gateway, DEPLOYMENTS, "GetDeployment", "16"),
        1.0,
        "the refused token: {}",
        gateway.text
    );
    assert_eq!(
        gateway.value("eyrie_gateway_auth_refused_total", &[("reason", "unknown")]),
        Some(1.0),
        "{}",
        gateway.text
    );
    assert!(
        gateway
            .value("eyrie_gateway_watch_feeds", &[("kind", "operation")])
            .is_some(),
        "{}",
        gateway.text
    );

    // deployment-svc answered the call the gateway forwarded, with the same code.
    let deployment = scrape_until(&suite.deployment.url(), |scraped| {
        scraped
            .value(
                "eyrie_relay_versions_sent_total",
                &[("result", "delivered")],
            )
            .is_some()
    })
    .await;
    assert_eq!(
        calls(&deployment, DEPLOYMENTS, "GetDeployment", "5"),
        1.0,
        "{}",
        deployment.text
    );
    assert!(
        deployment
            .value("eyrie_relay_delivery_lag_seconds_count", &[])
            .is_some_and(|count| count >= 1.0),
        "{}",
        deployment.text
    );
    assert!(
        deployment
            .value("eyrie_outbox_versions_queued", &[])
            .is_some(),
        "{}",
        deployment.text
    );

    // book-runner-svc: the jobs that ran (one per phase of the Deploy), their pickup, their
    // steps.
    let jobs = ended.jobs.len() as f64;
    assert!(jobs >= 1.0, "{ended:?}");
    let runner = scrape_until(&suite.book_runner.url(), |scraped| {
        scraped.value("eyrie_jobs_finished_total", &[("outcome", "succeeded")]) == Some(jobs)
    })
    .await;
    assert_eq!(
        runner.value("eyrie_jobs_finished_total", &[]),
        Some(jobs),
        "no job failed or was cancelled: {}",
        runner.text
    );
    assert_eq!(
        runner.value("eyrie_jobs_pickup_delay_seconds_count", &[]),
        Some(jobs),
        "{}",
        runner.text
    );
    assert!(
        runner
            .value(
                "eyrie_job_step_duration_seconds_count",
                &[("outcome", "succeeded")]
            )
            .is_some_and(|steps| steps >= 1.0),
        "{}",
        runner.text
    );
    for gauge in ["eyrie_jobs_queued", "eyrie_jobs_running"] {
        assert!(
            runner.value(gauge, &[]).is_some(),
            "{gauge}: {}",
            runner.text
        );
    }
    assert!(
        calls(&runner, "eyrie.internal.v1.JobRunner", "StartJob", "0") >= 1.0,
        "{}",
        runner.text
    );
    let version = scrape(&suite.version.url()).await.unwrap();
    assert!(
        calls(
            &version,
            "eyrie.internal.v1.VersionRecorder",
            "RecordVersion",
            "0"
        ) >= 1.0,
        "{}",
        version.text
    );

    // Nothing a tenant named is a label on any service: not the project, the deployment or a
    // token.
    for (service, scraped) in [
        ("gateway", &gateway),
        ("deployment-svc", &deployment),
        ("book-runner-svc", &runner),
        ("version-svc", &version),
    ] {
        for secret in ["acme", "shop", "eyr_", &suite.admin_token] {
            assert!(
                !scraped.text.contains(secret),
                "{secret:?} in {service}'s metrics: {}",
                scraped.text
            );
        }
    }

    // The services' internal credential does not keep Prometheus out.
    let (status, _) = get_metrics(&suite.version.url(), None).await.unwrap();
    assert_eq!(status, 200);

    // Every metric the dashboard and the alert rules query is exported by some service.
    let exported: BTreeSet<String> = [&gateway, &deployment, &runner, &version]
        .iter()
        .flat_map(|scraped| scraped.names())
        .chain(MADE_BY_PROMETHEUS.iter().map(|name| (*name).to_owned()))
        .collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(monitoring("dashboard.json")).unwrap())
            .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard["panels"], &mut exprs);
    assert!(
        exprs.len() >= 10,
        "the dashboard's panels query: {exprs:#?}"
    );
    let rules: RuleFile =
        serde_saphyr::from_str(&std::fs::read_to_string(monitoring("alerts.yaml")).unwrap())
            .expect("the alert rules are a Prometheus rule file");
    let mut alerts = BTreeSet::new();
    for group in &rules.groups {
        assert!(!group.rules.is_empty(), "group {} has no rule", group.name);
        for rule in &group.rules {
            assert!(alerts.insert(rule.alert.clone()), "{} twice", rule.alert);
            let (amount, unit) = rule.for_.split_at(rule.for_.len().saturating_sub(1));
            assert!(
                amount.parse::<u32>().is_ok() && ["s", "m", "h"].contains(&unit),
                "{}: for {:?}",
                rule.alert,
                rule.for_
            );
            assert!(
                ["warning", "critical"]
                    .contains(&rule.labels.get("severity").map_or("", String::as_str)),
                "{}: severity",
                rule.alert
            );
            assert!(rule.annotations.contains_key("summary"), "{}", rule.alert);
            exprs.push(rule.expr.clone());
        }
    }

    let mut queried = BTreeSet::new();
    for expr in &exprs {
        let names = promql_metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr:?}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{name} (in {expr:?}) is not exported; exported: {exported:#?}"
            );
            queried.insert(name);
        }
    }
    // And the other way round: every Eyrie metric is on the dashboard or in an alert.
    let families: BTreeSet<String> = exported
        .iter()
        .filter(|name| name.starts_with("eyrie_") || name.starts_with("rpc_"))
        .map(|name| family(name))
        .collect();
    let queried_families: BTreeSet<String> = queried.iter().map(|name| family(name)).collect();
    let unused: Vec<&String> = families.difference(&queried_families).collect();
    assert!(unused.is_empty(), "exported but never queried: {unused:?}");
}

/// A histogram's series (`_bucket`, `_sum`, `_count`) as its family's name.
fn family(name: &str) -> String {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
        .to_owned()
}
