//! The seed's journey through the gateway, every service a separate process, for an `odoo`, a
//! `pgo` and a `pxc` group: set up a project (scopes Production and Dev, a `directory` cluster, a
//! group), create a deployment in Dev, Deploy it and watch its jobs step by step (initialize,
//! then deploy), change its image (version 2), deploy again, Pause, Deploy from pause, see Drop
//! refused in Production and done in Dev, and read the operation log with its actors.
//!
//! The cluster is a folder: the test reads the manifests the books wrote, and [`Controllers`]
//! answer the books' waits as Kubernetes controllers and operators would, creating objects of
//! their own (Pods, ReplicaSets, StatefulSets, PGO's user Secrets), each owned by what made it.
//! A book that reads a Secret made outside the deployment (odoo's database password) finds it
//! written by the test into the folder first, as a database's operator or a person would.

use std::time::Instant;

use eyrie_proto::v1::{self as pb, DeploymentType, OperationAction, OperationStatus};
use eyrie_tests::{
    Suite,
    journey::{ClusterFolder, Controllers, Gateway, check_succeeded},
};
use serde_json::Value;
use tonic::Code;

const PROJECT: &str = "projects/acme";
const DEV: &str = "projects/acme/scopes/dev";
const PRODUCTION: &str = "projects/acme/scopes/production";
const CLUSTER: &str = "projects/acme/clusters/local";

/// What differs between the deployment types along the journey.
struct Kind {
    /// The group id, and the type of its deployments.
    group: &'static str,
    deployment_type: DeploymentType,
    /// Repository and branch (required for `odoo`).
    source: Option<(&'static str, &'static str)>,
    /// The image deployed first, then the one it is changed to.
    images: [&'static str; 2],
    /// Parameters the books need.
    parameters: &'static [(&'static str, &'static str)],
    /// Every object the books applied in the namespace of deployment `staging` once deployed,
    /// as `<kind>/<name>`: the objects there without `metadata.ownerReferences`, less the
    /// database password Secret the test wrote.
    objects: &'static [&'static str],
    /// Objects the controllers and operators made of them that the books rely on, as
    /// `<kind>/<name>`: each is there once deployed, owned by the workload.
    made: &'static [&'static str],
    /// Lowercase kind of the object that runs the deployment (its name is the deployment's slug).
    workload: &'static str,
    /// The image the workload runs.
    image_of: fn(&Value) -> Option<&str>,
    /// Whether the workload is paused (scaled to zero, shut down).
    paused: fn(&Value) -> bool,
}

const ODOO: Kind = Kind {
    group: "erp",
    deployment_type: DeploymentType::Odoo,
    source: Some(("https://github.com/acme/erp-addons.git", "18.0")),
    images: ["odoo:17.0", "odoo:18.0"],
    parameters: &[
        ("host", "erp.acme.example"),
        ("db_host", "erp-db-primary.acme-erp-db.svc"),
        ("db_user", "odoo"),
        ("db_password_secret", "erp-db-pguser-odoo"),
    ],
    objects: &[
        "configmap/staging-odoo-conf",
        "deployment/staging",
        "ingress/staging",
        "job/staging-odoo-init",
        "persistentvolumeclaim/staging-filestore",
        // The copy of the database password, read by the pods.
        "secret/staging-db-password",
        "secret/staging-odoo-secrets",
        "service/staging",
    ],
    made: &[],
    workload: "deployment",
    image_of: |workload| workload["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
    paused: |workload| workload["spec"]["replicas"] == 0,
};

const PGO: Kind = Kind {
    group: "databases",
    deployment_type: DeploymentType::Pgo,
    source: None,
    images: [
        "registry.developers.crunchydata.com/crunchydata/crunchy-postgres:ubi9-16.8-2516",
        "registry.developers.crunchydata.com/crunchydata/crunchy-postgres:ubi9-16.9-2520",
    ],
    parameters: &[("db_user", "app")],
    objects: &[
        "configmap/staging-init-sql",
        "job/staging-pg-ready",
        "postgrescluster/staging",
    ],
    // Made by PGO (here, the simulation of it): the user Secret an odoo deployment copies its
    // password from, and the dedicated pgBackRest repository host the book's repo volume asks
    // for.
    made: &["secret/staging-pguser-app", "statefulset/staging-repo-host"],
    workload: "postgrescluster",
    image_of: |workload| workload["spec"]["image"].as_str(),
    paused: |workload| workload["spec"]["shutdown"] == true,
};

const PXC: Kind = Kind {
    group: "mysql",
    deployment_type: DeploymentType::Pxc,
    source: None,
    images: [
        "percona/percona-xtradb-cluster:8.0.41-32.1",
        "percona/percona-xtradb-cluster:8.0.42-33.1",
    ],
    parameters: &[("size", "3")],
    objects: &[
        "job/staging-app-user",
        "perconaxtradbcluster/staging",
        "secret/staging-app-user",
        "secret/staging-secrets",
    ],
    made: &[],
    workload: "perconaxtradbcluster",
    image_of: |workload| workload["spec"]["pxc"]["image"].as_str(),
    paused: |workload| workload["spec"]["pause"] == true,
};

#[tokio::test]
async fn the_seed_journey_with_an_odoo_group() {
    journey(&ODOO).await;
}

#[tokio::test]
async fn the_seed_journey_with_a_pgo_group() {
    journey(&PGO).await;
}

#[tokio::test]
async fn the_seed_journey_with_a_pxc_group() {
    journey(&PXC).await;
}

/// The whole journey of one deployment type, on a suite of its own.
async fn journey(kind: &Kind) {
    let started = Instant::now();
    let suite = Suite::start().await.unwrap();
    let cluster = ClusterFolder::new(suite.clusters_dir().join("local"));
    let _controllers = Controllers::start(cluster.root());
    let mut admin = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    let admin_actor = admin.who_am_i().await.unwrap();
    let suite_started = Instant::now();

    set_up(&mut admin, kind, &cluster).await;
    // A CI pipeline deploys with a token of its own: the operation log tells it from the admin.
    let secret = admin
        .create_token("ci", PROJECT, pb::Role::Deployer)
        .await
        .unwrap();
    let mut ci = admin.as_token(secret);
    let ci_actor = ci.who_am_i().await.unwrap();
    assert_eq!(ci_actor, "tokens/ci");

    let group = format!("{PROJECT}/groups/{}", kind.group);
    let staging = create_deployment(&mut admin, kind, &group, "staging", DEV).await;
    let live = create_deployment(&mut admin, kind, &group, "live", PRODUCTION).await;
    let staging_ns = staging.namespace.clone();
    assert_eq!(staging_ns, "acme-staging");
    assert_eq!(staging.state(), pb::DeploymentState::Draft);
    for deployment in [&staging, &live] {
        write_db_password_secret(&cluster, kind, &deployment.namespace);
    }

    // Deploy from draft: the initialize job, then the deploy job, each watched to its end.
    let operation = deploy(&mut ci, &staging.name, 2).await;
    assert_eq!(operation.actor, ci_actor);
    assert!(
        cluster.namespace(&staging_ns).is_some(),
        "initialize created the namespace: {:?}",
        cluster.files_in(&staging_ns)
    );
    check_objects(&cluster, kind, &staging_ns);
    let staging_workload = || workload(&cluster, kind, &staging_ns, "staging");
    let first = staging_workload();
    assert_eq!((kind.image_of)(&first), Some(kind.images[0]));
    assert!(!(kind.paused)(&first));
    if db_password_secret(kind).is_some() {
        check_db_password_copy(&cluster, &staging_ns, &first);
    }
    let deployed = ci.deployment(&staging.name).await.unwrap();
    assert_eq!(deployed.state(), pb::DeploymentState::Deploy);
    assert_eq!(deployed.running_job_count, 0);

    change_image(&mut ci, &staging.name, kind.images[1]).await;
    deploy(&mut ci, &staging.name, 1).await;
    let redeployed = staging_workload();
    assert_eq!((kind.image_of)(&redeployed), Some(kind.images[1]));

    // Pause, then Deploy from pause.
    let request = ci.request(pb::PauseDeploymentRequest {
        name: staging.name.clone(),
        request_id: "pause-staging".into(),
    });
    let pause = ci.deployments.pause_deployment(request).await.unwrap();
    watch_to_the_end(&mut ci, &pause.into_inner(), &[pb::BookPhase::Pause]).await;
    assert!((kind.paused)(&staging_workload()));
    let paused = ci.deployment(&staging.name).await.unwrap();
    assert_eq!(paused.state(), pb::DeploymentState::Pause);
    deploy(&mut ci, &staging.name, 1).await;
    assert!(!(kind.paused)(&staging_workload()));

    // Production refuses Drop, even to an admin, and keeps its objects (those the books applied:
    // what the controllers made of them may still change, as they run on their own).
    deploy(&mut admin, &live.name, 2).await;
    let live_objects = unowned_objects(&cluster, &live.namespace);
    assert!(
        live_objects
            .iter()
            .any(|o| o == &format!("{}/live", kind.workload)),
        "{live_objects:?}"
    );
    let request = admin.request(pb::DropDeploymentRequest {
        name: live.name.clone(),
        ..Default::default()
    });
    let refused = admin
        .deployments
        .drop_deployment(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("allow_drop"), "{refused:?}");
    assert_eq!(unowned_objects(&cluster, &live.namespace), live_objects);
    let live_now = admin.deployment(&live.name).await.unwrap();
    assert_eq!(live_now.state(), pb::DeploymentState::Deploy);

    // Dev drops: its objects are gone, Production's stay.
    let request = admin.request(pb::DropDeploymentRequest {
        name: staging.name.clone(),
        request_id: "drop-staging".into(),
    });
    let drop = admin.deployments.drop_deployment(request).await.unwrap();
    watch_to_the_end(&mut admin, &drop.into_inner(), &[pb::BookPhase::Drop]).await;
    assert_eq!(cluster.files_in(&staging_ns), Vec::<String>::new());
    assert!(cluster.namespace(&staging_ns).is_none());
    assert_eq!(unowned_objects(&cluster, &live.namespace), live_objects);
    let dropped = admin.deployment(&staging.name).await.unwrap();
    assert_eq!(dropped.state(), pb::DeploymentState::Dropped);
    let request = admin.request(pb::ListDeploymentsRequest {
        parent: group.clone(),
        ..Default::default()
    });
    let listed = admin.deployments.list_deployments(request).await.unwrap();
    let names: Vec<_> = listed
        .into_inner()
        .deployments
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(
        names,
        [live.name.as_str()],
        "dropped deployments are hidden"
    );

    // The operation log: each action, who asked, how it ended, newest first.
    let request = ci.request(pb::ListOperationsRequest {
        parent: staging.name.clone(),
        ..Default::default()
    });
    let operations = ci.deployments.list_operations(request).await.unwrap();
    let log: Vec<_> = operations
        .into_inner()
        .operations
        .iter()
        .map(|o| (o.action(), o.actor.clone(), o.status(), o.jobs.len()))
        .collect();
    let by =
        |action, actor: &str, jobs| (action, actor.to_owned(), OperationStatus::Succeeded, jobs);
    assert_eq!(
        log,
        [
            by(OperationAction::Drop, &admin_actor, 1),
            by(OperationAction::Deploy, &ci_actor, 1),
            by(OperationAction::Pause, &ci_actor, 1),
            by(OperationAction::Deploy, &ci_actor, 1),
            by(OperationAction::Deploy, &ci_actor, 2),
        ]
    );

    println!(
        "journey of the {:?} group: {:.1?} (suite started in {:.1?})",
        kind.deployment_type,
        started.elapsed(),
        suite_started - started
    );
}

/// Project `acme`, scopes Production (no drop) and Dev (drop allowed), the `directory` cluster
/// `local`, and the group of `kind` with the built-in books of its type.
async fn set_up(admin: &mut Gateway, kind: &Kind, cluster: &ClusterFolder) {
    admin.create_project("acme", "Acme").await.unwrap();
    for (id, display_name, allow_drop) in
        [("production", "Production", false), ("dev", "Dev", true)]
    {
        let scope = admin
            .create_scope(PROJECT, id, display_name, allow_drop)
            .await
            .unwrap();
        assert_eq!(scope.allow_drop, allow_drop);
    }
    let created = admin
        .create_directory_cluster(PROJECT, "local", cluster.root())
        .await
        .unwrap();
    assert_eq!(created.name, CLUSTER);

    let group = admin
        .create_group(PROJECT, kind.group, kind.deployment_type)
        .await
        .unwrap();
    let type_name = kind
        .deployment_type
        .as_str_name()
        .trim_start_matches("DEPLOYMENT_TYPE_")
        .to_lowercase();
    let books = [
        &group.initialize_book,
        &group.deploy_book,
        &group.pause_book,
        &group.drop_book,
    ];
    let expected =
        ["initialize", "deploy", "pause", "drop"].map(|a| format!("books/{type_name}-{a}"));
    assert_eq!(
        books.map(String::as_str),
        expected.each_ref().map(String::as_str)
    );
}

/// Creates deployment `slug` of `kind` in `scope`, on the `local` cluster.
async fn create_deployment(
    admin: &mut Gateway,
    kind: &Kind,
    group: &str,
    slug: &str,
    scope: &str,
) -> pb::Deployment {
    let (repository, branch) = kind.source.unwrap_or_default();
    let request = admin.request(pb::CreateDeploymentRequest {
        parent: group.into(),
        deployment_id: slug.into(),
        deployment: Some(pb::Deployment {
            display_name: format!("Acme {slug}"),
            scope: scope.into(),
            clusters: vec![CLUSTER.into()],
            repository: repository.into(),
            branch: branch.into(),
            image: kind.images[0].into(),
            parameters: kind
                .parameters
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let deployment = admin
        .deployments
        .create_deployment(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deployment.r#type(), kind.deployment_type, "inherited");
    deployment
}

/// Deploys, watching each of the operation's `jobs` jobs to its end; returns the operation,
/// which succeeded.
async fn deploy(caller: &mut Gateway, deployment: &str, jobs: usize) -> pb::Operation {
    let request = caller.request(pb::DeployDeploymentRequest {
        name: deployment.into(),
        ..Default::default()
    });
    let operation = caller
        .deployments
        .deploy_deployment(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(operation.action(), OperationAction::Deploy);
    let phases: &[pb::BookPhase] = match jobs {
        2 => &[pb::BookPhase::Initialize, pb::BookPhase::Deploy],
        _ => &[pb::BookPhase::Deploy],
    };
    watch_to_the_end(caller, &operation, phases).await
}

/// Watches the operation's jobs, one per phase in `phases`, each from its first event to its
/// end, and checks each ran every step of its book; returns the operation once it ended.
async fn watch_to_the_end(
    caller: &mut Gateway,
    operation: &pb::Operation,
    phases: &[pb::BookPhase],
) -> pb::Operation {
    // The accepted operation announces every phase it runs; their jobs start after it was
    // recorded, and WatchOperation (which `operation_with_job` follows) shows each.
    assert_eq!(
        operation
            .phases
            .iter()
            .map(|p| p.phase())
            .collect::<Vec<_>>(),
        phases,
        "the phases are announced at once"
    );
    for (index, phase) in phases.iter().enumerate() {
        let current = caller
            .operation_with_job(&operation.name, index)
            .await
            .unwrap();
        let job_name = current.jobs.get(index).unwrap_or_else(|| {
            panic!(
                "operation ended with {} jobs: {}",
                current.jobs.len(),
                current.message
            )
        });
        let events = caller.watch_job(job_name).await.unwrap();
        let job = caller.job(job_name).await.unwrap();
        assert_eq!(job.phase(), *phase, "{job_name}");
        assert_eq!(job.actor, operation.actor, "{job_name}");
        check_succeeded(&events, job.steps.len())
            .unwrap_or_else(|problem| panic!("{job_name} ({}): {problem}", job.book));
    }
    let ended = caller.ended(&operation.name).await.unwrap();
    assert_eq!(
        (ended.status(), ended.jobs.len()),
        (OperationStatus::Succeeded, phases.len()),
        "{}",
        ended.message
    );
    ended
}

/// Changes the image with a field mask and the deployment's etag; the change is version 2.
async fn change_image(caller: &mut Gateway, deployment: &str, image: &str) {
    let before = caller.deployment(deployment).await.unwrap();
    let update = |etag: &str| pb::UpdateDeploymentRequest {
        deployment: Some(pb::Deployment {
            name: deployment.into(),
            image: image.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["image".into()],
        }),
        ..Default::default()
    };
    let request = caller.request(update(&before.etag));
    let updated = caller
        .deployments
        .update_deployment(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.image, image);
    assert_ne!(updated.etag, before.etag);
    // The etag it was read with is stale now.
    let request = caller.request(update(&before.etag));
    let stale = caller
        .deployments
        .update_deployment(request)
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    // version-svc records the change asynchronously (deployment-svc's outbox): wait for it.
    let versions = wait_for_versions(caller, deployment, 2).await;
    let numbers: Vec<_> = versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(versions[0].changed_fields, ["image"]);
    assert_eq!(versions[0].reason(), pb::VersionReason::Update);
    assert_eq!(versions[1].reason(), pb::VersionReason::Create);
    let fields = versions[0].key_fields.as_ref().unwrap();
    assert_eq!(fields.image, image);
}

/// Lists the deployment's versions (newest first) once there are `count` of them.
async fn wait_for_versions(
    caller: &mut Gateway,
    deployment: &str,
    count: usize,
) -> Vec<pb::DeploymentVersion> {
    for _ in 0..600 {
        let request = caller.request(pb::ListVersionsRequest {
            parent: deployment.into(),
            ..Default::default()
        });
        let versions = caller
            .versions
            .list_versions(request)
            .await
            .unwrap()
            .into_inner()
            .versions;
        if versions.len() >= count {
            return versions;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{deployment} did not reach {count} versions in 30 s")
}

/// The object running the deployment `slug` in `namespace`.
fn workload(cluster: &ClusterFolder, kind: &Kind, namespace: &str, slug: &str) -> Value {
    cluster
        .object(namespace, kind.workload, slug)
        .unwrap_or_else(|| {
            panic!(
                "no {} {namespace}/{slug}; the namespace holds {:?}",
                kind.workload,
                cluster.files_in(namespace)
            )
        })
}

/// The password the test gives the database user (`odoo-db-S3cret`), in base64 as a Secret's
/// `data` holds it.
const DB_PASSWORD_BASE64: &str = "b2Rvby1kYi1TM2NyZXQ=";

/// The Secret holding the database password that `kind`'s books copy from, if they do: the
/// `db_password_secret` parameter (in the deployment's own namespace, as
/// `db_password_secret_namespace` is left empty).
fn db_password_secret(kind: &Kind) -> Option<&'static str> {
    kind.parameters
        .iter()
        .find(|(key, _)| *key == "db_password_secret")
        .map(|(_, name)| *name)
}

/// Writes the database password Secret `kind`'s books wait for into `namespace` of the folder,
/// as a database's operator (or a person with kubectl) would, before the first Deploy.
fn write_db_password_secret(cluster: &ClusterFolder, kind: &Kind, namespace: &str) {
    let Some(name) = db_password_secret(kind) else {
        return;
    };
    let folder = cluster.root().join(namespace).join("secret");
    std::fs::create_dir_all(&folder).unwrap();
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         type: Opaque\ndata:\n  password: {}\n",
        DB_PASSWORD_BASE64
    );
    std::fs::write(folder.join(format!("{name}.yaml")), secret).unwrap();
}

/// The deployment's copy of the database password (`<slug>-db-password`) holds the password
/// the test wrote, and the workload's containers read `PASSWORD` from it.
fn check_db_password_copy(cluster: &ClusterFolder, namespace: &str, workload: &Value) {
    let copy = cluster
        .object(namespace, "secret", "staging-db-password")
        .unwrap_or_else(|| {
            panic!(
                "no copy of the database password; the namespace holds {:?}",
                cluster.files_in(namespace)
            )
        });
    assert_eq!(copy["data"]["password"], DB_PASSWORD_BASE64, "{copy}");
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sources: Vec<&Value> = containers
        .iter()
        .filter_map(|container| {
            container["env"]
                .as_array()?
                .iter()
                .find(|variable| variable["name"] == "PASSWORD")
        })
        .map(|variable| &variable["valueFrom"]["secretKeyRef"])
        .collect();
    assert!(
        !sources.is_empty() && sources.len() == containers.len(),
        "every container reads PASSWORD: {containers:?}"
    );
    for source in sources {
        assert_eq!(
            source,
            &serde_json::json!({"name": "staging-db-password", "key": "password"})
        );
    }
}

/// Every object of `namespace` as `<kind>/<name>` (lowercase kind), sorted, with its content.
fn objects_in(cluster: &ClusterFolder, namespace: &str) -> Vec<(String, Value)> {
    cluster
        .files_in(namespace)
        .iter()
        .filter_map(|path| {
            let object = path
                .strip_prefix(namespace)?
                .strip_prefix('/')?
                .strip_suffix(".yaml")?;
            let (kind, name) = object.split_once('/')?;
            // A file deleted since it was listed (by the controllers) is left out.
            let content = cluster.object(namespace, kind, name)?;
            Some((object.to_owned(), content))
        })
        .collect()
}

/// Whether something else (a controller, an operator) made `object` and owns it.
fn owned(object: &Value) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| !owners.is_empty())
}

/// The objects of `namespace` that nothing owns (what books and people wrote), as
/// `<kind>/<name>`, sorted.
fn unowned_objects(cluster: &ClusterFolder, namespace: &str) -> Vec<String> {
    objects_in(cluster, namespace)
        .into_iter()
        .filter(|(_, object)| !owned(object))
        .map(|(path, _)| path)
        .collect()
}

/// Once deployed, `namespace` holds one file per object the books applied (as `kind.objects`
/// lists them), besides the database password Secret the test wrote and what the controllers
/// made; of these, those `kind.made` lists are there, owned by the workload.
fn check_objects(cluster: &ClusterFolder, kind: &Kind, namespace: &str) {
    let objects = objects_in(cluster, namespace);
    let given = db_password_secret(kind).map(|name| format!("secret/{name}"));
    let applied: Vec<&str> = objects
        .iter()
        .filter(|(path, object)| !owned(object) && given.as_ref() != Some(path))
        .map(|(path, _)| path.as_str())
        .collect();
    assert_eq!(
        applied, kind.objects,
        "one file per object the books applied"
    );
    let workload = format!("{}/staging", kind.workload);
    let workload_uid = objects
        .iter()
        .find(|(path, _)| *path == workload)
        .map(|(_, object)| object["metadata"]["uid"].clone());
    for made in kind.made {
        let (_, object) = objects
            .iter()
            .find(|(path, _)| path == made)
            .unwrap_or_else(|| {
                panic!(
                    "no {made}; the namespace holds {:?}",
                    cluster.files_in(namespace)
                )
            });
        let owners = object["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            owners.iter().any(|owner| {
                owner["kind"]
                    .as_str()
                    .is_some_and(|owner_kind| owner_kind.eq_ignore_ascii_case(kind.workload))
                    && owner["name"] == "staging"
                    && Some(&owner["uid"]) == workload_uid.as_ref()
            }),
            "{made} is owned by {workload}: {owners:?}"
        );
    }
}
