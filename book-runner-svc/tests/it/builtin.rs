//! Every built-in book runs on the directory cluster, for its type and action, through the
//! lifecycle: initialize, deploy, deploy again, pause, deploy from pause, drop.

use std::{collections::BTreeMap, path::Path};

use eyrie_proto::v1::{BookPhase, JobStatus, OperationAction};

use eyrie_tests::journey::{Controllers, yaml_files};

use crate::harness::{Runner, each_runner, start_request};

/// Contents of every file of the cluster, by path.
fn files(root: &Path) -> BTreeMap<String, String> {
    yaml_files(root)
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            (relative, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

fn object(root: &Path, relative: &str) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root.join(relative)).unwrap()).unwrap()
}

async fn run(
    runner: &mut Runner,
    deployment_type: &str,
    phase: BookPhase,
    action: OperationAction,
    request_id: &str,
    parameters: &[(&str, &str)],
) {
    let phase_name = phase
        .as_str_name()
        .trim_start_matches("BOOK_PHASE_")
        .to_lowercase();
    let mut request = start_request(
        &format!("books/{deployment_type}-{phase_name}"),
        request_id,
        deployment_type,
        parameters,
    );
    request.phase = phase.into();
    request.action = action.into();
    let job = runner.runner.start_job(request).await.unwrap().into_inner();
    let done = runner.finished(&job.name).await;
    assert_eq!(
        done.status(),
        JobStatus::Succeeded,
        "{deployment_type} {phase_name}: {} (steps: {:?})",
        done.message,
        done.steps
            .iter()
            .map(|s| (&s.name, s.status(), &s.message))
            .collect::<Vec<_>>()
    );
}

/// Runs the whole lifecycle of `deployment_type`, checking what pause and drop leave.
async fn lifecycle(
    runner: &mut Runner,
    deployment_type: &str,
    parameters: &[(&str, &str)],
    paused: impl Fn(&Path) -> bool,
) {
    let root = runner.cluster.clone();
    let _controllers = Controllers::start(root.clone());
    let id = |step: &str| format!("{deployment_type}-{step}");

    run(
        runner,
        deployment_type,
        BookPhase::Initialize,
        OperationAction::Deploy,
        &id("init"),
        parameters,
    )
    .await;
    assert!(
        root.join("_cluster/namespace/acme-shop.yaml").exists(),
        "{deployment_type}: namespace"
    );
    run(
        runner,
        deployment_type,
        BookPhase::Deploy,
        OperationAction::Deploy,
        &id("deploy-1"),
        parameters,
    )
    .await;
    let deployed = files(&root);

    run(
        runner,
        deployment_type,
        BookPhase::Deploy,
        OperationAction::Deploy,
        &id("deploy-2"),
        parameters,
    )
    .await;
    assert_eq!(
        files(&root),
        deployed,
        "{deployment_type}: a second deploy changed files"
    );

    run(
        runner,
        deployment_type,
        BookPhase::Pause,
        OperationAction::Pause,
        &id("pause"),
        parameters,
    )
    .await;
    assert!(paused(&root), "{deployment_type}: not paused");
    run(
        runner,
        deployment_type,
        BookPhase::Deploy,
        OperationAction::Deploy,
        &id("deploy-3"),
        parameters,
    )
    .await;
    assert!(
        !paused(&root),
        "{deployment_type}: still paused after deploy"
    );

    run(
        runner,
        deployment_type,
        BookPhase::Drop,
        OperationAction::Drop,
        &id("drop"),
        parameters,
    )
    .await;
    let left: Vec<_> = files(&root)
        .into_keys()
        .filter(|path| path.contains("acme-shop"))
        .collect();
    assert!(left.is_empty(), "{deployment_type}: drop left {left:?}");
}

const ODOO_PARAMETERS: &[(&str, &str)] = &[
    ("host", "shop.acme.example"),
    ("db_host", "acme-pg-primary.acme-db.svc"),
    ("db_user", "odoo"),
    ("db_password_secret", "acme-pg-pguser-odoo"),
];

#[tokio::test]
async fn odoo_books_run_the_whole_lifecycle() {
    for (_backend, mut runner) in each_runner().await {
        lifecycle(&mut runner, "odoo", ODOO_PARAMETERS, |root| {
            object(root, "acme-shop/deployment/shop.yaml")["spec"]["replicas"] == 0
        })
        .await;
    }
}

#[tokio::test]
async fn pgo_books_run_the_whole_lifecycle() {
    for (_backend, mut runner) in each_runner().await {
        lifecycle(&mut runner, "pgo", &[], |root| {
            object(root, "acme-shop/postgrescluster/shop.yaml")["spec"]["shutdown"] == true
        })
        .await;
    }
}

#[tokio::test]
async fn pxc_books_run_the_whole_lifecycle() {
    for (_backend, mut runner) in each_runner().await {
        lifecycle(&mut runner, "pxc", &[], |root| {
            object(root, "acme-shop/perconaxtradbcluster/shop.yaml")["spec"]["pause"] == true
        })
        .await;
    }
}

#[tokio::test]
async fn none_books_run_the_whole_lifecycle() {
    for (_backend, mut runner) in each_runner().await {
        lifecycle(&mut runner, "none", &[], |root| {
            object(root, "acme-shop/deployment/shop.yaml")["spec"]["replicas"] == 0
        })
        .await;
    }
}
