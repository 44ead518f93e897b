//! The seed's lifecycle against a real book-runner-svc: Deploy (initialize then deploy books),
//! image change and redeploy, Pause, Deploy from pause, Drop refused in Production and done in
//! Dev; one operation at a time; request ids; required book parameters.

use std::{path::Path, time::Duration};

use eyrie_book_runner_svc::{
    BookRunnerSvc,
    config::{Peers as RunnerPeers, RunnerSettings},
};
use eyrie_deployment_svc::{
    DeploymentSvc, Settings,
    config::{LifecycleSettings, Peers},
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, postgres_test_database},
};
use eyrie_proto::v1::{
    self as pb, deployment_service_client::DeploymentServiceClient,
    version_service_client::VersionServiceClient,
};
use eyrie_tests::journey::Controllers;
use futures::future::join_all;
use tokio::net::TcpListener;
use tonic::{Code, transport::Channel};

use crate::harness::{ACTOR, as_admin, create_group};

/// deployment-svc wired to a real book-runner-svc whose directory cluster is `root/c1`.
pub(crate) struct Suite {
    pub(crate) client: DeploymentServiceClient<Channel>,
    pub(crate) root: tempfile::TempDir,
    pub(crate) runner: TestServer,
    versions: TestServer,
    deployments: TestServer,
}

fn database(dir: &Path, file: &str, postgres: bool) -> DatabaseSettings {
    if postgres {
        postgres_test_database().expect("EYRIE_TEST_DATABASE_URL")
    } else {
        DatabaseSettings::with_url(format!("sqlite://{}/{file}?mode=rwc", dir.display()))
    }
}

/// A suite whose runner reports job outcomes to deployment-svc, or never does (`reports` false).
async fn suite(postgres: bool, reports: bool) -> Suite {
    let root = tempfile::tempdir().unwrap();
    // Both addresses are known before either service starts: each names the other.
    let deployments_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runner_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deployments_url = format!("http://{}", deployments_listener.local_addr().unwrap());
    let runner_url = format!("http://{}", runner_listener.local_addr().unwrap());

    let versions =
        TestServer::start::<eyrie_version_svc::VersionSvc>(eyrie_version_svc::Settings {
            server: ServerSettings::loopback_any_port(),
            database: database(root.path(), "versions.sqlite", postgres),
            ..Default::default()
        })
        .await
        .unwrap();
    let runner = TestServer::start_on::<BookRunnerSvc>(
        runner_listener,
        eyrie_book_runner_svc::Settings {
            server: ServerSettings::loopback_any_port(),
            database: database(root.path(), "runner.sqlite", postgres),
            runner: RunnerSettings {
                poll_interval: Duration::from_millis(100),
                directory_root: root.path().to_path_buf(),
                ..RunnerSettings::default()
            },
            peers: RunnerPeers {
                deployment: reports.then_some(deployments_url),
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deployments = TestServer::start_on::<DeploymentSvc>(
        deployments_listener,
        Settings {
            server: ServerSettings::loopback_any_port(),
            database: database(root.path(), "deployments.sqlite", postgres),
            peers: Peers {
                book_runner: Some(runner_url),
                version: Some(versions.url()),
            },
            lifecycle: LifecycleSettings {
                reconcile_interval: Duration::from_millis(300),
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = DeploymentServiceClient::new(deployments.channel().await.unwrap());
    Suite {
        client,
        root,
        runner,
        versions,
        deployments,
    }
}

/// A suite on SQLite, and one on PostgreSQL when a test database is set.
pub(crate) async fn suites() -> Vec<(&'static str, Suite)> {
    suites_reporting(true).await
}

/// [`suites`] whose runners report job outcomes, or never do (`reports` false).
async fn suites_reporting(reports: bool) -> Vec<(&'static str, Suite)> {
    let mut suites = vec![("sqlite", suite(false, reports).await)];
    if postgres_test_database().is_some() {
        suites.push(("postgres", suite(true, reports).await));
    }
    suites
}

pub(crate) async fn create(client: &mut DeploymentServiceClient<Channel>, root: &Path) {
    client
        .create_project(as_admin(pb::CreateProjectRequest {
            project_id: "acme".into(),
            project: Some(pb::Project {
                display_name: "Acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    for (scope, allow_drop) in [("dev", true), ("production", false)] {
        client
            .create_scope(as_admin(pb::CreateScopeRequest {
                parent: "projects/acme".into(),
                scope_id: scope.into(),
                scope: Some(pb::Scope {
                    display_name: scope.into(),
                    allow_drop,
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    client
        .create_cluster(as_admin(pb::CreateClusterRequest {
            parent: "projects/acme".into(),
            cluster_id: "c1".into(),
            cluster: Some(pb::Cluster {
                display_name: "Local".into(),
                connection: Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        path: root.join("c1").display().to_string(),
                        simulated: false,
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    create_group(client, "projects/acme", "apps", pb::DeploymentType::None).await;
    for (slug, scope) in [("shop", "dev"), ("api", "production")] {
        client
            .create_deployment(as_admin(pb::CreateDeploymentRequest {
                parent: "projects/acme/groups/apps".into(),
                deployment_id: slug.into(),
                deployment: Some(pb::Deployment {
                    display_name: slug.into(),
                    scope: format!("projects/acme/scopes/{scope}"),
                    clusters: vec!["projects/acme/clusters/c1".into()],
                    image: "nginx:1.27".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
}

/// Waits (bounded) until the operation ends; returns it.
pub(crate) async fn ended(
    client: &mut DeploymentServiceClient<Channel>,
    operation: &str,
) -> pb::Operation {
    for _ in 0..600 {
        let current = client
            .get_operation(as_admin(pb::GetOperationRequest {
                name: operation.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        if current.status() != pb::OperationStatus::Running {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("operation {operation} did not end in 30 s")
}

/// The operation log of deployment `name`, newest first.
async fn operations_of(
    client: &mut DeploymentServiceClient<Channel>,
    name: &str,
) -> Vec<pb::Operation> {
    client
        .list_operations(as_admin(pb::ListOperationsRequest {
            parent: name.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .operations
}

/// Starts a Deploy of deployment `name`; returns its operation.
pub(crate) async fn start_deploy(
    client: &mut DeploymentServiceClient<Channel>,
    name: &str,
) -> pb::Operation {
    client
        .deploy_deployment(as_admin(pb::DeployDeploymentRequest {
            name: name.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
}

/// The versions of `deployment`, newest first, once version-svc holds `count` of them (or
/// what it holds after a bounded wait): the outbox relays them in the background.
async fn versions_once(
    client: &mut VersionServiceClient<Channel>,
    deployment: &str,
    count: usize,
) -> Vec<pb::DeploymentVersion> {
    let mut versions = Vec::new();
    for _ in 0..200 {
        versions = client
            .list_versions(pb::ListVersionsRequest {
                parent: deployment.into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().versions)
            .unwrap_or_default();
        if versions.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    versions
}

pub(crate) async fn state(
    client: &mut DeploymentServiceClient<Channel>,
    name: &str,
) -> pb::Deployment {
    client
        .get_deployment(as_admin(pb::GetDeploymentRequest { name: name.into() }))
        .await
        .unwrap()
        .into_inner()
}

pub(crate) const SHOP: &str = "projects/acme/groups/apps/deployments/shop";
const API: &str = "projects/acme/groups/apps/deployments/api";

#[tokio::test]
async fn the_seed_lifecycle_runs_the_books() {
    for (backend, mut suite) in suites().await {
        let _controllers = Controllers::start(suite.root.path());
        let client = &mut suite.client;
        create(client, suite.root.path()).await;
        assert_eq!(
            state(client, SHOP).await.state(),
            pb::DeploymentState::Draft
        );

        let deploy = start_deploy(client, SHOP).await;
        assert_eq!(deploy.actor, ACTOR, "{backend}");
        let deploy = ended(client, &deploy.name).await;
        assert_eq!(
            deploy.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            deploy.message
        );
        assert_eq!(deploy.jobs.len(), 2, "{backend}: initialize, then deploy");
        let deployed = state(client, SHOP).await;
        assert_eq!(deployed.state(), pb::DeploymentState::Deploy, "{backend}");
        let last = deployed.last_operation.unwrap();
        assert_eq!(
            (last.name.as_str(), last.status(), last.jobs.len()),
            (deploy.name.as_str(), pb::OperationStatus::Succeeded, 2),
            "{backend}: GetDeployment shows its last operation in full"
        );
        let workload = suite.root.path().join("c1/acme-shop/deployment/shop.yaml");
        assert!(
            std::fs::read_to_string(&workload)
                .unwrap()
                .contains("nginx:1.27"),
            "{backend}"
        );

        // Change the image, deploy again: the manifest follows.
        let current = state(client, SHOP).await;
        client
            .update_deployment(as_admin(pb::UpdateDeploymentRequest {
                deployment: Some(pb::Deployment {
                    name: SHOP.into(),
                    image: "nginx:1.28".into(),
                    etag: current.etag,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["image".into()],
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
        // The image change is version 2, recorded by version-svc through the outbox.
        let mut version_client = VersionServiceClient::new(suite.versions.channel().await.unwrap());
        let versions = versions_once(&mut version_client, SHOP, 2).await;
        assert_eq!(versions.len(), 2, "{backend}: {versions:?}");
        assert_eq!(versions[0].number, 2, "{backend}");
        assert_eq!(versions[0].changed_fields, ["image"], "{backend}");
        assert_eq!(versions[0].actor, ACTOR, "{backend}");

        let redeploy = start_deploy(client, SHOP).await;
        assert_eq!(
            ended(client, &redeploy.name).await.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        assert!(
            std::fs::read_to_string(&workload)
                .unwrap()
                .contains("nginx:1.28"),
            "{backend}"
        );

        // Deploy version 1 again: its key fields come back, as version 3 saying so.
        let missing = client
            .deploy_deployment(as_admin(pb::DeployDeploymentRequest {
                name: SHOP.into(),
                rollback_to_version: Some(99),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        // The contract's NOT_FOUND, naming the version asked for.
        assert_eq!(missing.code(), Code::NotFound, "{backend}: {missing:?}");
        assert!(
            missing.message().contains(&format!("{SHOP}/versions/99")),
            "{backend}: {missing:?}"
        );
        let rollback = client
            .deploy_deployment(as_admin(pb::DeployDeploymentRequest {
                name: SHOP.into(),
                rollback_to_version: Some(1),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let rollback = ended(client, &rollback.name).await;
        assert_eq!(
            rollback.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        assert_eq!(rollback.rollback_to_version, 1, "{backend}");
        assert_eq!(state(client, SHOP).await.image, "nginx:1.27", "{backend}");
        assert!(
            std::fs::read_to_string(&workload)
                .unwrap()
                .contains("nginx:1.27"),
            "{backend}"
        );
        let latest = versions_once(&mut version_client, SHOP, 3).await;
        assert_eq!(latest.len(), 3, "{backend}: {latest:?}");
        assert_eq!(latest[0].number, 3, "{backend}");
        assert_eq!(latest[0].reason(), pb::VersionReason::Rollback, "{backend}");
        assert_eq!(latest[0].rollback_to_version, 1, "{backend}");
        assert_eq!(latest[0].changed_fields, ["image"], "{backend}");

        let pause = client
            .pause_deployment(as_admin(pb::PauseDeploymentRequest {
                name: SHOP.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ended(client, &pause.name).await.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        assert_eq!(
            state(client, SHOP).await.state(),
            pb::DeploymentState::Pause,
            "{backend}"
        );
        assert!(
            std::fs::read_to_string(&workload)
                .unwrap()
                .contains("replicas: 0"),
            "{backend}"
        );

        let resume = start_deploy(client, SHOP).await;
        assert_eq!(
            ended(client, &resume.name).await.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        assert_eq!(
            state(client, SHOP).await.state(),
            pb::DeploymentState::Deploy,
            "{backend}"
        );

        // Production forbids Drop; Dev allows it.
        let refused = client
            .drop_deployment(as_admin(pb::DropDeploymentRequest {
                name: API.into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "{backend}: {refused:?}"
        );
        assert!(
            refused.message().contains("allow_drop"),
            "{backend}: {}",
            refused.message()
        );
        let dropped = client
            .drop_deployment(as_admin(pb::DropDeploymentRequest {
                name: SHOP.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ended(client, &dropped.name).await.status(),
            pb::OperationStatus::Succeeded,
            "{backend}"
        );
        assert_eq!(
            state(client, SHOP).await.state(),
            pb::DeploymentState::Dropped,
            "{backend}"
        );
        assert!(
            !suite.root.path().join("c1/acme-shop").exists(),
            "{backend}: the drop left objects"
        );

        let log = operations_of(client, SHOP).await;
        let actions: Vec<_> = log
            .iter()
            .map(|op| (op.action(), op.status(), op.actor.as_str()))
            .collect();
        use pb::{OperationAction as A, OperationStatus as S};
        assert_eq!(
            actions,
            [
                (A::Drop, S::Succeeded, ACTOR),
                (A::Deploy, S::Succeeded, ACTOR),
                (A::Pause, S::Succeeded, ACTOR),
                (A::Deploy, S::Succeeded, ACTOR),
                (A::Deploy, S::Succeeded, ACTOR),
                (A::Deploy, S::Succeeded, ACTOR),
            ],
            "{backend}: newest first"
        );
    }
}

#[tokio::test]
async fn one_operation_at_a_time_and_request_ids_start_nothing_twice() {
    for (backend, mut suite) in suites().await {
        // No controller yet: the deploy book waits for its workload, so the first operation is
        // still running while the other 19 Deploys arrive (otherwise a late one could start
        // legitimately after it ended).
        create(&mut suite.client, suite.root.path()).await;
        let attempts = (0..20).map(|_| {
            let mut client = suite.client.clone();
            async move {
                client
                    .deploy_deployment(as_admin(pb::DeployDeploymentRequest {
                        name: SHOP.into(),
                        ..Default::default()
                    }))
                    .await
            }
        });
        let results = join_all(attempts).await;
        let started: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(
            started.len(),
            1,
            "{backend}: exactly one of 20 concurrent Deploys starts"
        );
        for refused in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(refused.code(), Code::FailedPrecondition | Code::Aborted),
                "{backend}: {refused:?}"
            );
        }
        let _controllers = Controllers::start(suite.root.path());
        let first = ended(&mut suite.client, &started[0].get_ref().name).await;
        assert_eq!(
            first.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            first.message
        );

        let with_id = || {
            as_admin(pb::PauseDeploymentRequest {
                name: SHOP.into(),
                request_id: "pause-1".into(),
            })
        };
        let pause = suite
            .client
            .pause_deployment(with_id())
            .await
            .unwrap()
            .into_inner();
        let retry = suite
            .client
            .pause_deployment(with_id())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            retry.name, pause.name,
            "{backend}: a retried request id returns the first operation"
        );
        let paused = ended(&mut suite.client, &pause.name).await;
        assert_eq!(
            paused.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            paused.message
        );
        let log = operations_of(&mut suite.client, SHOP).await;
        let actions: Vec<_> = log.iter().map(pb::Operation::action).collect();
        assert_eq!(
            actions,
            [pb::OperationAction::Pause, pb::OperationAction::Deploy],
            "{backend}: one Deploy, one Pause, newest first"
        );

        // Replayed after the operation ended, the request returns it as it ended.
        let replayed = suite
            .client
            .pause_deployment(with_id())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replayed, paused, "{backend}");
        // The same request id for another request is refused, naming the field, and starts nothing.
        let reused = suite
            .client
            .drop_deployment(as_admin(pb::DropDeploymentRequest {
                name: SHOP.into(),
                request_id: "pause-1".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(reused.code(), Code::InvalidArgument, "{backend}");
        assert!(
            reused.message().contains("request_id"),
            "{backend}: {reused:?}"
        );
        let after = operations_of(&mut suite.client, SHOP).await;
        assert_eq!(after, log, "{backend}: the refused request changed nothing");
    }
}

/// A deploy book that fails at once: it patches a Deployment that does not exist.
const FAILING_DEPLOY: &str = "name: shop-deploy\ntype: none\nsteps:\n  - name: Scale a missing workload\n    uses: k8s.patch\n    with: {api_version: apps/v1, kind: Deployment, name: missing, namespace: \"{{ namespace }}\", patch: '{\"spec\": {\"replicas\": 1}}'}\n";
/// The same book, fixed: it applies a ConfigMap.
const FIXED_DEPLOY: &str = "name: shop-deploy\ntype: none\nsteps:\n  - name: Apply the configuration\n    uses: k8s.apply\n    with:\n      manifest: |\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: shop, namespace: {{ namespace }}}\n";

#[tokio::test]
async fn a_failed_book_fails_the_operation_and_the_job_can_be_retried_after_a_fix() {
    use eyrie_proto::v1::book_service_client::BookServiceClient;
    for (backend, mut suite) in suites().await {
        let channel = suite.runner.channel().await.unwrap();
        let mut books = BookServiceClient::new(channel);
        let source = |text: &str| {
            pb::create_book_request::Content::Source(pb::BookSource {
                format: pb::BookFormat::Yaml.into(),
                text: text.into(),
            })
        };
        books
            .create_book(pb::CreateBookRequest {
                parent: "projects/acme".into(),
                book_id: "shop-deploy".into(),
                content: Some(source(FAILING_DEPLOY)),
                ..Default::default()
            })
            .await
            .unwrap();
        create(&mut suite.client, suite.root.path()).await;
        let group = suite
            .client
            .get_deployment_group(as_admin(pb::GetDeploymentGroupRequest {
                name: "projects/acme/groups/apps".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        suite
            .client
            .update_deployment_group(as_admin(pb::UpdateDeploymentGroupRequest {
                deployment_group: Some(pb::DeploymentGroup {
                    deploy_book: "projects/acme/books/shop-deploy".into(),
                    ..group
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["deploy_book".into()],
                }),
                ..Default::default()
            }))
            .await
            .unwrap();

        let deploy = start_deploy(&mut suite.client, SHOP).await;
        let failed = ended(&mut suite.client, &deploy.name).await;
        assert_eq!(
            failed.status(),
            pb::OperationStatus::Failed,
            "{backend}: {failed:?}"
        );
        assert!(
            failed.message.contains("Scale a missing workload"),
            "{backend}: {}",
            failed.message
        );
        assert_eq!(
            failed.jobs.len(),
            2,
            "{backend}: initialize ran, then the failing deploy"
        );

        // The same action can run again (and fails again: the book is unchanged).
        let again = start_deploy(&mut suite.client, SHOP).await;
        let again = ended(&mut suite.client, &again.name).await;
        assert_eq!(again.status(), pb::OperationStatus::Failed, "{backend}");
        assert_eq!(
            again.jobs.len(),
            1,
            "{backend}: from state deploy, Deploy runs the deploy book only"
        );

        // Fix the book, then retry the failed job: a new operation runs the fixed book.
        let current = books
            .get_book(pb::GetBookRequest {
                name: "projects/acme/books/shop-deploy".into(),
            })
            .await
            .unwrap()
            .into_inner();
        books
            .update_book(pb::UpdateBookRequest {
                book: Some(pb::Book {
                    name: current.name.clone(),
                    etag: current.etag.clone(),
                    ..Default::default()
                }),
                source: Some(pb::BookSource {
                    format: pb::BookFormat::Yaml.into(),
                    text: FIXED_DEPLOY.into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        // What the gateway asks for a RetryJob: the lifecycle decides.
        let mut callbacks =
            eyrie_proto::internal::v1::deployment_callbacks_client::DeploymentCallbacksClient::new(
                suite.deployments.channel().await.unwrap(),
            );
        let retried = callbacks
            .retry_operation(as_admin(eyrie_proto::internal::v1::RetryOperationRequest {
                job: again.jobs[0].clone(),
                operation: again.name.clone(),
                actor: ACTOR.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let operation = ended(&mut suite.client, &retried.operation).await;
        assert_eq!(
            operation.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            operation.message
        );
        assert_eq!(operation.retry_of, again.name, "{backend}");
        assert_eq!(
            operation.jobs.len(),
            1,
            "{backend}: only the failed phase runs again"
        );
        assert_eq!(
            state(&mut suite.client, SHOP).await.state(),
            pb::DeploymentState::Deploy,
            "{backend}"
        );
        assert!(
            suite
                .root
                .path()
                .join("c1/acme-shop/configmap/shop.yaml")
                .exists(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn watchers_see_the_current_state_then_the_changes_and_the_running_job_badge() {
    use tokio_stream::StreamExt as _;
    for (backend, mut suite) in suites().await {
        create(&mut suite.client, suite.root.path()).await;
        let mut stream = suite
            .client
            .watch_deployments(as_admin(pb::WatchDeploymentsRequest {
                parent: "projects/acme/groups/apps".into(),
                show_dropped: false,
            }))
            .await
            .unwrap()
            .into_inner();
        let mut initial = Vec::new();
        while let Some(message) = stream.next().await {
            match message.unwrap().kind.unwrap() {
                pb::watch_deployments_response::Kind::Deployment(deployment) => {
                    initial.push(deployment.name)
                }
                pb::watch_deployments_response::Kind::InitialStateComplete(_) => break,
                pb::watch_deployments_response::Kind::Heartbeat(_) => {}
            }
        }
        initial.sort();
        assert_eq!(initial, [API.to_owned(), SHOP.to_owned()], "{backend}");

        start_deploy(&mut suite.client, SHOP).await;
        // No controller yet: the deploy book waits for its workload, so the job keeps running.
        let mut seen = Vec::new();
        let mut controllers = None;
        let root = suite.root.path().to_path_buf();
        let watch = async {
            while let Some(message) = stream.next().await {
                if let Some(pb::watch_deployments_response::Kind::Deployment(deployment)) =
                    message.unwrap().kind
                {
                    let done = deployment.state() == pb::DeploymentState::Deploy
                        && deployment.running_job_count == 0
                        && deployment
                            .last_operation
                            .as_ref()
                            .is_some_and(|op| op.status() == pb::OperationStatus::Succeeded);
                    seen.push((deployment.state(), deployment.running_job_count));
                    if deployment.state() == pb::DeploymentState::Deploy
                        && deployment.running_job_count == 1
                    {
                        // The badge showed the running job: let the workload become available.
                        controllers.get_or_insert_with(|| Controllers::start(root.clone()));
                    }
                    if done {
                        return;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), watch)
            .await
            .expect("no final change");
        assert!(
            seen.contains(&(pb::DeploymentState::Deploy, 1)),
            "{backend}: the badge showed the running job: {seen:?}"
        );
        assert_eq!(
            seen.last(),
            Some(&(pb::DeploymentState::Deploy, 0)),
            "{backend}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn when_no_outcome_report_arrives_the_reconciler_finishes_the_operation() {
    // The runner here never reports outcomes: only the reconciler can move the deployment on.
    for (backend, mut suite) in suites_reporting(false).await {
        let _controllers = Controllers::start(suite.root.path());
        create(&mut suite.client, suite.root.path()).await;
        let deploy = start_deploy(&mut suite.client, SHOP).await;
        let done = ended(&mut suite.client, &deploy.name).await;
        assert_eq!(
            done.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            done.message
        );
        assert_eq!(
            done.jobs.len(),
            2,
            "{backend}: the reconciler also started the deploy book"
        );
        let deployment = state(&mut suite.client, SHOP).await;
        assert_eq!(deployment.state(), pb::DeploymentState::Deploy, "{backend}");
        assert_eq!(deployment.running_job_count, 0, "{backend}");
    }
}
