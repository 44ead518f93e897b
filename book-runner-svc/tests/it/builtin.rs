//! Every built-in book runs on the directory cluster, for its type and action, through the
//! lifecycle: initialize, deploy, deploy again, pause, deploy from pause, drop, with the
//! controllers and operators simulated on the files (`cluster::simulation`).

use std::{collections::BTreeMap, path::Path};

use eyrie_proto::v1::{
    BookPhase, DirectoryConnection, Job, JobStatus, OperationAction,
    deployment_snapshot::cluster::Connection,
};

use eyrie_tests::journey::{Controllers, Faults, yaml_files};

use eyrie_platform::DatabaseSettings;

use crate::harness::{Runner, each_runner, start, start_request};

/// Paths of every file of the cluster.
fn files(root: &Path) -> Vec<String> {
    yaml_files(root)
        .into_iter()
        .map(|path| path.strip_prefix(root).unwrap().display().to_string())
        .collect()
}

/// What the books wrote, by path: the objects no controller made (they have no owner), without
/// what the cluster adds (status, uid, creation time).
fn written_by_books(root: &Path) -> BTreeMap<String, serde_json::Value> {
    yaml_files(root)
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let mut object = object(root, &relative);
            if object.pointer("/metadata/ownerReferences").is_some() {
                return None;
            }
            // A Job's selector is made from its uid, new with every Job the books recreate.
            for labels in [
                "/spec/selector/matchLabels",
                "/spec/template/metadata/labels",
            ] {
                if let Some(labels) = object.pointer_mut(labels).and_then(|l| l.as_object_mut()) {
                    labels.remove("controller-uid");
                }
            }
            object.as_object_mut().unwrap().remove("status");
            let metadata = object["metadata"].as_object_mut().unwrap();
            metadata.remove("uid");
            metadata.remove("creationTimestamp");
            Some((relative, object))
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
    run_image(
        runner,
        deployment_type,
        phase,
        action,
        request_id,
        parameters,
        None,
    )
    .await;
}

/// [`run`], with the deployment's image replaced by `image` when given.
async fn run_image(
    runner: &mut Runner,
    deployment_type: &str,
    phase: BookPhase,
    action: OperationAction,
    request_id: &str,
    parameters: &[(&str, &str)],
    image: Option<&str>,
) {
    let done = finish(
        runner,
        deployment_type,
        phase,
        action,
        request_id,
        parameters,
        image,
    )
    .await;
    assert_eq!(
        done.status(),
        JobStatus::Succeeded,
        "{deployment_type} {phase:?}: {} (steps: {:?})",
        done.message,
        done.steps
            .iter()
            .map(|s| (&s.name, s.status(), &s.message))
            .collect::<Vec<_>>()
    );
}

/// Runs the book of `deployment_type` for `phase` to its end, whatever it is.
async fn finish(
    runner: &mut Runner,
    deployment_type: &str,
    phase: BookPhase,
    action: OperationAction,
    request_id: &str,
    parameters: &[(&str, &str)],
    image: Option<&str>,
) -> Job {
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
    if let Some(image) = image {
        let snapshot = request.snapshot.as_mut().unwrap();
        let deployment = snapshot.deployment.as_mut().unwrap();
        deployment.key_fields.as_mut().unwrap().image = image.to_owned();
    }
    request.phase = phase.into();
    request.action = action.into();
    if runner.simulated {
        let cluster = &mut request.snapshot.as_mut().unwrap().clusters[0];
        cluster.connection = Some(Connection::Directory(DirectoryConnection {
            path: "c1".to_owned(),
            simulated: true,
        }));
    }
    let job = runner.runner.start_job(request).await.unwrap().into_inner();
    let done = runner.finished(&job.name).await;
    if runner.simulated {
        every_line_says_simulated(runner, &done).await;
    }
    done
}

/// Every log line of `job`'s steps, on a simulated cluster, says so.
async fn every_line_says_simulated(runner: &mut Runner, job: &Job) {
    let mut lines = Vec::new();
    for step in &job.steps {
        lines.extend(runner.step_log(&job.name, step.index).await);
    }
    assert!(!lines.is_empty(), "{}: no log lines", job.book);
    for line in lines {
        assert!(
            line.starts_with("[simulated] "),
            "{}: a line does not say it is simulated: {line:?}",
            job.book
        );
    }
}

/// Runs the whole lifecycle of `deployment_type`, checking what pause and drop leave.
async fn lifecycle(
    runner: &mut Runner,
    deployment_type: &str,
    parameters: &[(&str, &str)],
    paused: impl Fn(&Path) -> bool,
) {
    let root = runner.cluster.clone();
    // On a simulated cluster the runner plays the controllers itself.
    let _controllers = (!runner.simulated).then(|| Controllers::start(root.clone()));
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
    let deployed = written_by_books(&root);

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
        written_by_books(&root),
        deployed,
        "{deployment_type}: a second deploy changed what the books wrote"
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
        .into_iter()
        .filter(|path| path.contains("acme-shop"))
        .collect();
    assert!(left.is_empty(), "{deployment_type}: drop left {left:?}");
}

/// A runner on every database with the tests' controllers on its folder, and one (on SQLite)
/// whose cluster is simulated: the runner plays the same controllers itself.
async fn runners_on_both_kinds_of_cluster() -> Vec<Runner> {
    let mut runners: Vec<Runner> = each_runner()
        .await
        .into_iter()
        .map(|(_backend, runner)| runner)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = DatabaseSettings::with_url(format!(
        "sqlite://{}/runner.sqlite?mode=rwc",
        dir.path().display()
    ));
    let mut simulated = start(sqlite, dir).await;
    simulated.simulated = true;
    runners.push(simulated);
    runners
}

const ODOO_PARAMETERS: &[(&str, &str)] = &[
    ("host", "shop.acme.example"),
    ("db_host", "acme-pg-primary.acme-db.svc"),
    ("db_user", "odoo"),
    ("db_password_secret", "acme-pg-pguser-odoo"),
];

/// The database password Secret ODOO_PARAMETERS name, in the deployment's own namespace
/// (`db_password_secret_namespace` unset), as a platform team or another tool would keep it:
/// the odoo books copy it into `shop-db-password`.
fn odoo_password_secret(root: &Path) {
    let folder = root.join("acme-shop/secret");
    std::fs::create_dir_all(&folder).unwrap();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "acme-pg-pguser-odoo", "namespace": "acme-shop", "generation": 1},
        "data": {"password": "c2VjcmV0", "user": "b2Rvbw=="},
    });
    std::fs::write(
        folder.join("acme-pg-pguser-odoo.yaml"),
        serde_saphyr::to_string(&secret).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn odoo_books_run_the_whole_lifecycle() {
    for mut runner in runners_on_both_kinds_of_cluster().await {
        odoo_password_secret(&runner.cluster);
        lifecycle(&mut runner, "odoo", ODOO_PARAMETERS, |root| {
            object(root, "acme-shop/deployment/shop.yaml")["spec"]["replicas"] == 0
        })
        .await;
    }
}

#[tokio::test]
async fn pgo_books_run_the_whole_lifecycle() {
    for mut runner in runners_on_both_kinds_of_cluster().await {
        lifecycle(&mut runner, "pgo", &[], |root| {
            object(root, "acme-shop/postgrescluster/shop.yaml")["spec"]["shutdown"] == true
        })
        .await;
    }
}

#[tokio::test]
async fn pxc_books_run_the_whole_lifecycle() {
    for mut runner in runners_on_both_kinds_of_cluster().await {
        lifecycle(&mut runner, "pxc", &[], |root| {
            object(root, "acme-shop/perconaxtradbcluster/shop.yaml")["spec"]["pause"] == true
        })
        .await;
    }
}

#[tokio::test]
async fn none_books_run_the_whole_lifecycle() {
    for mut runner in runners_on_both_kinds_of_cluster().await {
        lifecycle(&mut runner, "none", &[], |root| {
            object(root, "acme-shop/deployment/shop.yaml")["spec"]["replicas"] == 0
        })
        .await;
    }
}

/// The stale-ready rule: the PXC operator goes on reporting `ready` for the previous generation
/// until it reconciles a change, then `initializing` for the new one, and `ready` once every
/// node runs the new image. A redeploy that changes the image must wait for the last.
#[tokio::test]
async fn a_pxc_redeploy_waits_for_the_new_image_on_every_node() {
    for (_backend, mut runner) in each_runner().await {
        let root = runner.cluster.clone();
        let _controllers = Controllers::start(root.clone());
        run(
            &mut runner,
            "pxc",
            BookPhase::Initialize,
            OperationAction::Deploy,
            "stale-init",
            &[],
        )
        .await;
        for (id, image) in [
            ("stale-deploy-1", "percona/percona-xtradb-cluster:8.0.41"),
            ("stale-deploy-2", "percona/percona-xtradb-cluster:8.0.42"),
        ] {
            run_image(
                &mut runner,
                "pxc",
                BookPhase::Deploy,
                OperationAction::Deploy,
                id,
                &[],
                Some(image),
            )
            .await;
        }
        let cluster = object(&root, "acme-shop/perconaxtradbcluster/shop.yaml");
        assert_eq!(cluster["metadata"]["generation"], 2);
        assert_eq!(cluster["status"]["state"], "ready");
        assert_eq!(cluster["status"]["observedGeneration"], 2);
        let nodes: Vec<String> = files(&root)
            .into_iter()
            .filter(|path| path.starts_with("acme-shop/pod/shop-pxc-"))
            .map(|path| {
                object(&root, &path)["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(nodes.len(), 3);
        assert!(
            nodes.iter().all(|image| image.ends_with(":8.0.42")),
            "the deploy ended before the rollout: {nodes:?}"
        );
    }
}

/// The failures the simulation plays end the books that meet them, in the cluster's words:
/// an image the kubelet cannot pull, a Job whose pods fail.
#[tokio::test]
async fn faults_fail_the_books_with_the_clusters_reasons() {
    for (_backend, mut runner) in each_runner().await {
        let root = runner.cluster.clone();
        let faults = Faults {
            unpullable_images: ["registry.example/shop:1.0".to_owned()].into(),
            failing_jobs: ["shop-odoo-init".to_owned()].into(),
            ..Faults::default()
        };
        let _controllers = Controllers::start_with_faults(root.clone(), faults);
        odoo_password_secret(&root);
        // Odoo's initialize comes first: it creates the namespace the other uses. Only the
        // generic application runs the unpullable image.
        let odoo_init = finish(
            &mut runner,
            "odoo",
            BookPhase::Initialize,
            OperationAction::Deploy,
            "fault-odoo",
            ODOO_PARAMETERS,
            Some("odoo:18"),
        )
        .await;
        let none_deploy = finish(
            &mut runner,
            "none",
            BookPhase::Deploy,
            OperationAction::Deploy,
            "fault-none",
            &[],
            None,
        )
        .await;
        for (done, says) in [
            (
                odoo_init,
                [
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ],
            ),
            (
                none_deploy,
                [
                    "ImagePullBackOff",
                    "Back-off pulling image \"registry.example/shop:1.0\"",
                ],
            ),
        ] {
            let failed: Vec<String> = done
                .steps
                .iter()
                .filter(|step| step.status() == eyrie_proto::v1::StepStatus::Failed)
                .map(|step| step.message.clone())
                .collect();
            assert_eq!(
                done.status(),
                JobStatus::Failed,
                "{}: {failed:?}",
                done.name
            );
            for said in says {
                assert!(
                    failed.iter().any(|message| message.contains(said)),
                    "{}: {said:?} not in {failed:?}",
                    done.name
                );
            }
        }
    }
}

/// A cluster the PXC operator refuses (an even size) fails the deploy book's wait on the state
/// `error` the operator writes, with its message. The operator does not write
/// `observedGeneration` on that path, so the failure counts once it has lasted the grace.
#[tokio::test]
async fn a_pxc_cluster_the_operator_refuses_fails_the_deploy_with_its_reason() {
    for (_backend, mut runner) in each_runner().await {
        let _controllers = Controllers::start(runner.cluster.clone());
        run(
            &mut runner,
            "pxc",
            BookPhase::Initialize,
            OperationAction::Deploy,
            "refused-init",
            &[],
        )
        .await;
        let done = finish(
            &mut runner,
            "pxc",
            BookPhase::Deploy,
            OperationAction::Deploy,
            "refused-deploy",
            &[("size", "4")],
            Some("percona/percona-xtradb-cluster:8.0.42"),
        )
        .await;
        assert_eq!(done.status(), JobStatus::Failed);
        let failed: Vec<&str> = done
            .steps
            .iter()
            .map(|step| step.message.as_str())
            .filter(|message| !message.is_empty())
            .collect();
        assert!(
            failed
                .iter()
                .any(|message| message.contains("PXC size must be an odd number")),
            "{failed:?}"
        );
    }
}
