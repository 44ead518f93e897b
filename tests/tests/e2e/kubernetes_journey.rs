//! The journey on a real Kubernetes API server, through the gateway, deployment-svc and the
//! runner as separate processes: a project whose platform team granted it two namespaces, a
//! pgo deployment, and an odoo deployment that uses it as the books document, pairing through
//! PGO's user Secret. The operators (PGO, the Deployment and Job controllers, the kubelet) are
//! the simulated ones, acting through the API server as the real ones do; the upstream CRDs
//! are installed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eyrie_book_runner_svc::cluster::kubernetes::{Connection, KubernetesCluster};
use eyrie_proto::v1::{self as pb, DeploymentType, OperationStatus};
use eyrie_tests::{
    Suite,
    journey::Gateway,
    kube_api::{client, grant_project, install_crds, kubeconfig, namespaced, start_controllers},
};
use serde_json::Value;

/// Longest one operation may take: the simulated operators move through their real
/// intermediate statuses on a loaded machine.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test]
async fn odoo_on_pgo_deploys_pauses_and_drops_on_a_real_api_server() {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    install_crds(&kubeconfig).await;
    // A project of its own: the API server outlives test runs, and namespaces follow the
    // project's slug.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let slug = format!("kj{:06x}", nanos % 0x00ff_ffff);
    let project = format!("projects/{slug}");
    let (db_namespace, erp_namespace) = (format!("{slug}-db"), format!("{slug}-erp"));
    let stray_namespace = format!("{slug}-stray");

    // What the platform team does: each deployment's namespace, and the project's rights there.
    let admin_cluster = KubernetesCluster::new(Connection::Kubeconfig {
        path: kubeconfig.clone().into(),
        context: String::new(),
    });
    for namespace in [&db_namespace, &erp_namespace, &stray_namespace] {
        grant_project(&admin_cluster, &slug, namespace).await;
    }
    let kube = client(&kubeconfig).await;
    let _db_operators = start_controllers(kube.clone(), &db_namespace);
    let _erp_operators = start_controllers(kube.clone(), &erp_namespace);

    let suite = Suite::start().await.unwrap();
    let mut admin = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    admin
        .create_project(&slug, "Kubernetes journey")
        .await
        .unwrap();
    admin
        .create_scope(&project, "dev", "Dev", true)
        .await
        .unwrap();
    let cluster = admin
        .create_kubernetes_cluster(&project, "k8s", &kubeconfig)
        .await
        .unwrap();
    admin
        .create_group(&project, "databases", DeploymentType::Pgo)
        .await
        .unwrap();
    admin
        .create_group(&project, "erp", DeploymentType::Odoo)
        .await
        .unwrap();

    // PostgreSQL first: PGO writes the Secret of user odoo (CREATEDB: Odoo makes its database).
    let db = create(
        &mut admin,
        &project,
        "databases",
        "db",
        &cluster.name,
        "",
        &[
            ("db_user", "odoo"),
            ("db_name", ""),
            ("user_options", "CREATEDB"),
        ],
    )
    .await;
    assert_eq!(db.namespace, db_namespace);
    run(&mut admin, Action::Deploy, &db.name).await;

    let db_host = format!("db-primary.{db_namespace}.svc");
    let erp = create(
        &mut admin,
        &project,
        "erp",
        "erp",
        &cluster.name,
        "odoo:18.0",
        &[
            ("host", "erp.acme.example"),
            ("db_host", &db_host),
            ("db_user", "odoo"),
            ("db_password_secret", "db-pguser-odoo"),
            ("db_password_secret_namespace", &db_namespace),
        ],
    )
    .await;
    assert_eq!(erp.namespace, erp_namespace);
    run(&mut admin, Action::Deploy, &erp.name).await;

    // The password reached Odoo's pod spec through a Secret in Odoo's own namespace.
    let secrets = |namespace: &str| namespaced(&kube, namespace, "v1", "Secret", "secrets");
    let source = secrets(&db_namespace).get("db-pguser-odoo").await.unwrap();
    let copy = secrets(&erp_namespace)
        .get("erp-db-password")
        .await
        .unwrap();
    assert_eq!(
        copy.data["data"]["password"], source.data["data"]["password"],
        "the copy holds PGO's password"
    );
    assert_eq!(
        copy.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get("eyrie.dev/copied-from"))
            .map(String::as_str),
        Some(format!("{db_namespace}/db-pguser-odoo").as_str())
    );
    let odoo = namespaced(
        &kube,
        &erp_namespace,
        "apps/v1",
        "Deployment",
        "deployments",
    )
    .get("erp")
    .await
    .unwrap();
    let odoo = serde_json::to_value(odoo).unwrap();
    assert_eq!(
        password_secret_of(&odoo),
        Some("erp-db-password"),
        "Odoo reads the password from its namespace"
    );

    // Reading is confined to the project's own deployments: a Secret of the cluster's own
    // namespace is refused before anything is sent, naming the rule.
    let stray = create(
        &mut admin,
        &project,
        "erp",
        "stray",
        &cluster.name,
        "odoo:18.0",
        &[
            ("host", "stray.acme.example"),
            ("db_host", &db_host),
            ("db_user", "odoo"),
            ("db_password_secret", "bootstrap-token-abcdef"),
            ("db_password_secret_namespace", "kube-system"),
        ],
    )
    .await;
    let refused = outcome(&mut admin, Action::Deploy, &stray.name).await;
    assert_eq!(refused.status(), OperationStatus::Failed);
    let failures = failures(&mut admin, &refused).await;
    assert!(
        failures
            .iter()
            .any(|failure| failure.contains("OutsideProject")
                && failure.contains("in namespace kube-system")),
        "{failures:#?}"
    );
    run(&mut admin, Action::Drop, &stray.name).await;

    // Pause and deploy again, then drop both (Dev allows it): Odoo first, as the books say.
    run(&mut admin, Action::Pause, &erp.name).await;
    let paused = namespaced(
        &kube,
        &erp_namespace,
        "apps/v1",
        "Deployment",
        "deployments",
    )
    .get("erp")
    .await
    .unwrap();
    assert_eq!(paused.data["spec"]["replicas"], 0);
    run(&mut admin, Action::Deploy, &erp.name).await;
    run(&mut admin, Action::Drop, &erp.name).await;
    run(&mut admin, Action::Drop, &db.name).await;
    let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(kube);
    for namespace in [&db_namespace, &erp_namespace, &stray_namespace] {
        assert!(
            namespaces.get_opt(namespace).await.unwrap().is_none(),
            "{namespace} left after drop"
        );
    }
}

/// Creates deployment `id` in group `group`, in scope Dev, on `cluster`.
async fn create(
    admin: &mut Gateway,
    project: &str,
    group: &str,
    id: &str,
    cluster: &str,
    image: &str,
    parameters: &[(&str, &str)],
) -> pb::Deployment {
    let request = admin.request(pb::CreateDeploymentRequest {
        parent: format!("{project}/groups/{group}"),
        deployment_id: id.to_owned(),
        deployment: Some(pb::Deployment {
            display_name: id.to_owned(),
            scope: format!("{project}/scopes/dev"),
            clusters: vec![cluster.to_owned()],
            repository: "https://github.com/acme/erp-addons.git".to_owned(),
            branch: "18.0".to_owned(),
            image: image.to_owned(),
            parameters: parameters
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    });
    admin
        .deployments
        .create_deployment(request)
        .await
        .unwrap()
        .into_inner()
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Deploy,
    Pause,
    Drop,
}

/// Runs `action` on `deployment` and waits until its operation succeeded, naming the failed
/// steps otherwise.
async fn run(admin: &mut Gateway, action: Action, deployment: &str) {
    let ended = outcome(admin, action, deployment).await;
    if ended.status() != OperationStatus::Succeeded {
        let failures = failures(admin, &ended).await;
        panic!(
            "{action:?} of {deployment}: {:?} {}; {failures:#?}",
            ended.status(),
            ended.message
        );
    }
}

/// Runs `action` on `deployment`; returns its operation once it ended.
async fn outcome(admin: &mut Gateway, action: Action, deployment: &str) -> pb::Operation {
    let name = deployment.to_owned();
    let operation = match action {
        Action::Deploy => {
            let request = admin.request(pb::DeployDeploymentRequest {
                name,
                ..Default::default()
            });
            admin.deployments.deploy_deployment(request).await
        }
        Action::Pause => {
            let request = admin.request(pb::PauseDeploymentRequest {
                name,
                ..Default::default()
            });
            admin.deployments.pause_deployment(request).await
        }
        Action::Drop => {
            let request = admin.request(pb::DropDeploymentRequest {
                name,
                ..Default::default()
            });
            admin.deployments.drop_deployment(request).await
        }
    }
    .unwrap()
    .into_inner();
    tokio::time::timeout(OPERATION_TIMEOUT, async {
        loop {
            let current = admin.operation(&operation.name).await.unwrap();
            if current.status() != OperationStatus::Running {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{action:?} of {deployment} did not end"))
}

/// The messages of the steps of `operation`'s jobs that have one, as `step: message`.
async fn failures(admin: &mut Gateway, operation: &pb::Operation) -> Vec<String> {
    let mut failures = Vec::new();
    for job in &operation.jobs {
        let job = admin.job(job).await.unwrap();
        failures.extend(
            job.steps
                .iter()
                .filter(|step| !step.message.is_empty())
                .map(|step| format!("{}: {}", step.name, step.message)),
        );
    }
    failures
}

/// The Secret the `odoo` container's PASSWORD comes from.
fn password_secret_of(deployment: &Value) -> Option<&str> {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|container| container["name"] == "odoo")?["env"]
        .as_array()?
        .iter()
        .find(|variable| variable["name"] == "PASSWORD")?
        .pointer("/valueFrom/secretKeyRef/name")?
        .as_str()
}
