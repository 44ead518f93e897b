//! docs/architecture.md, "Version outbox": the relay delivers the outbox to a real version-svc, in
//! revision order per deployment, and whatever was queued while version-svc was down arrives
//! once it is back.

use std::{future::Future, time::Duration};

use chrono::Utc;
use eyrie_deployment_svc::{
    relay::VersionRelay,
    store::{
        migration::Migrator,
        outbox::{VersionRecord, enqueue_version},
    },
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    grpc::traced_channel,
    standalone::Service as _,
    testing::{ClosedPort, TestServer, init_test_logs, postgres_test_database, test_databases},
};
use eyrie_proto::{
    internal::v1::version_recorder_client::VersionRecorderClient,
    v1::{self as pb, ListVersionsRequest, version_service_client::VersionServiceClient},
};
use eyrie_version_svc::VersionSvc;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement, Value};
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::Channel;

const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const BLOG: &str = "projects/acme/groups/web/deployments/blog";
const CART: &str = "projects/acme/groups/web/deployments/cart";

/// deployment-svc's database (migrated, no service running) and a database for version-svc.
struct Databases {
    backend: &'static str,
    settings: DatabaseSettings,
    db: DatabaseConnection,
    versions: DatabaseSettings,
    _dir: tempfile::TempDir,
}

/// Every test database: SQLite in a file, so that the relay and the test share it, and
/// PostgreSQL (one fresh schema per service) when `EYRIE_TEST_DATABASE_URL` is set.
async fn each_database() -> Vec<Databases> {
    init_test_logs();
    let mut all = Vec::new();
    for database in test_databases() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, settings, versions) = if database.is_postgres() {
            ("postgres", database, postgres_test_database().unwrap())
        } else {
            let url = format!(
                "sqlite://{}/deployments.sqlite?mode=rwc",
                dir.path().display()
            );
            ("sqlite", DatabaseSettings::with_url(url), database)
        };
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap();
        all.push(Databases {
            backend,
            settings,
            db,
            versions,
            _dir: dir,
        });
    }
    all
}

fn version_settings(database: &DatabaseSettings) -> eyrie_version_svc::Settings {
    eyrie_version_svc::Settings {
        server: ServerSettings::loopback_any_port(),
        database: database.clone(),
        ..Default::default()
    }
}

/// Runs a relay on `db` towards `url` until the guard is dropped.
fn start_relay(db: DatabaseConnection, url: &str) -> DropGuard {
    let client =
        VersionRecorderClient::new(traced_channel(&[url.to_owned()], &Default::default()).unwrap());
    let relay = VersionRelay::new(db, client, eyrie_platform::changes::Changes::local());
    let shutdown = CancellationToken::new();
    tokio::spawn(relay.run(shutdown.clone()));
    shutdown.drop_guard()
}

/// Queues revision `revision` of `deployment` (image `shop:{revision}`), as a change would.
async fn enqueue(
    db: &DatabaseConnection,
    deployment: &str,
    revision: i64,
    reason: pb::VersionReason,
) {
    let record = VersionRecord {
        deployment: deployment.into(),
        revision,
        key_fields: pb::KeyFields {
            repository: "git@github.com:acme/shop.git".into(),
            branch: "17.0".into(),
            image: format!("odoo:17.{revision}"),
            clusters: vec!["projects/acme/clusters/eu".into()],
            scope: "projects/acme/scopes/dev".into(),
            ..Default::default()
        },
        actor: "tokens/admin".into(),
        reason,
        rollback_to_version: 0,
        time: Utc::now(),
        // Unnumbered, as queued before deployment-svc numbered versions: version-svc numbers it.
        number: 0,
    };
    let txn = eyrie_platform::db::begin_write(db).await.unwrap();
    enqueue_version(&txn, &record).await.unwrap();
    txn.commit().await.unwrap();
}

fn reason(revision: i64) -> pb::VersionReason {
    if revision == 1 {
        pb::VersionReason::Create
    } else {
        pb::VersionReason::Update
    }
}

/// A `?` statement, numbered for PostgreSQL.
fn sql(db: &DatabaseConnection, text: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let mut text = text.to_owned();
    if backend == DbBackend::Postgres {
        for number in 1..=values.len() {
            text = text.replacen('?', &format!("${number}"), 1);
        }
    }
    Statement::from_sql_and_values(backend, text, values)
}

/// Stores deployment `name` (slug `slug`) at `current_version`.
async fn insert_deployment(db: &DatabaseConnection, name: &str, slug: &str, current_version: i64) {
    let now = Utc::now();
    let insert = "INSERT INTO deployments (name, project, deployment_group, slug, display_name, \
        deployment_type, scope, clusters, repository, branch, image, commit_ref, parameters, state, \
        namespace, revision, current_version, running_job_count, create_time, update_time) VALUES \
        (?, 'projects/acme', 'projects/acme/groups/web', ?, ?, 'odoo', 'projects/acme/scopes/dev', \
        '[]', '', '', '', '', '{}', 'draft', ?, 1, ?, 0, ?, ?)";
    let values = vec![
        name.into(),
        slug.into(),
        slug.into(),
        format!("acme-{slug}").into(),
        current_version.into(),
        now.into(),
        now.into(),
    ];
    db.execute_raw(sql(db, insert, values)).await.unwrap();
}

async fn current_version(db: &DatabaseConnection, name: &str) -> i64 {
    let select = sql(
        db,
        "SELECT current_version FROM deployments WHERE name = ?",
        vec![name.into()],
    );
    let row = db.query_one_raw(select).await.unwrap().unwrap();
    row.try_get("", "current_version").unwrap()
}

/// `(revision, attempts)` of the records still queued for `deployment`.
async fn queued(db: &DatabaseConnection, deployment: &str) -> Vec<(i64, i32)> {
    let select = sql(
        db,
        "SELECT revision, attempts FROM version_outbox WHERE deployment = ? ORDER BY revision",
        vec![deployment.into()],
    );
    db.query_all_raw(select)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get("", "revision").unwrap(),
                row.try_get("", "attempts").unwrap(),
            )
        })
        .collect()
}

/// `(number, revision)` of `deployment`'s versions in version-svc, oldest first.
async fn versions(client: &mut VersionServiceClient<Channel>, deployment: &str) -> Vec<(i64, i64)> {
    let request = ListVersionsRequest {
        parent: deployment.into(),
        ..Default::default()
    };
    match client.list_versions(request).await {
        Ok(page) => {
            let mut found: Vec<_> = page
                .into_inner()
                .versions
                .iter()
                .map(|v| (v.number, v.revision))
                .collect();
            found.reverse();
            found
        }
        Err(status) => panic!("ListVersions({deployment}): {status:?}"),
    }
}

/// Polls `check` until it holds, for at most 20 seconds.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn dense(count: i64) -> Vec<(i64, i64)> {
    (1..=count).map(|n| (n, n)).collect()
}

#[tokio::test]
async fn versions_are_delivered_in_revision_order_and_leave_the_outbox() {
    for databases in each_database().await {
        let (backend, db) = (databases.backend, &databases.db);
        let server = TestServer::start::<VersionSvc>(version_settings(&databases.versions))
            .await
            .unwrap();
        let mut client = VersionServiceClient::new(server.channel().await.unwrap());
        insert_deployment(db, SHOP, "shop", 0).await;
        // A current version above what version-svc returns is never lowered.
        insert_deployment(db, CART, "cart", 9).await;
        for revision in 1..=3 {
            enqueue(db, SHOP, revision, reason(revision)).await;
        }
        enqueue(db, CART, 1, pb::VersionReason::Create).await;

        let _relay = start_relay(db.clone(), &server.url());
        eventually("the outbox is empty", || async {
            queued(db, SHOP).await.is_empty() && queued(db, CART).await.is_empty()
        })
        .await;
        assert_eq!(versions(&mut client, SHOP).await, dense(3), "{backend}");
        assert_eq!(versions(&mut client, CART).await, dense(1), "{backend}");
        assert_eq!(current_version(db, SHOP).await, 3, "{backend}");
        assert_eq!(current_version(db, CART).await, 9, "{backend}");
    }
}

#[tokio::test]
async fn versions_queued_while_version_svc_is_down_arrive_in_order_once_it_is_up() {
    for databases in each_database().await {
        let (backend, db) = (databases.backend, &databases.db);
        // Nothing listens at this address until version-svc starts there.
        let parked = ClosedPort::hold().unwrap();
        let address = parked.address;
        let _relay = start_relay(db.clone(), &format!("http://{address}"));
        insert_deployment(db, SHOP, "shop", 0).await;
        for revision in 1..=3 {
            enqueue(db, SHOP, revision, reason(revision)).await;
        }

        // Only the first revision is tried, again and again; the later ones wait their turn.
        eventually("revision 1 failed three times", || async {
            queued(db, SHOP)
                .await
                .first()
                .is_some_and(|&(_, attempts)| attempts >= 3)
        })
        .await;
        let waiting = queued(db, SHOP).await;
        assert_eq!(waiting.len(), 3, "{backend}: {waiting:?}");
        assert_eq!(&waiting[1..], [(2, 0), (3, 0)], "{backend}");
        assert_eq!(current_version(db, SHOP).await, 0, "{backend}");

        let listener = parked.listen().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let settings = version_settings(&databases.versions);
        let server = tokio::spawn(VersionSvc::run(settings, listener, async {
            let _ = stopped.await;
        }));
        eventually("the outbox is empty", || async {
            queued(db, SHOP).await.is_empty()
        })
        .await;
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        let mut client = VersionServiceClient::new(channel);
        assert_eq!(versions(&mut client, SHOP).await, dense(3), "{backend}");
        assert_eq!(current_version(db, SHOP).await, 3, "{backend}");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_refused_record_holds_back_only_its_own_deployment() {
    for databases in each_database().await {
        let (backend, db) = (databases.backend, &databases.db);
        let server = TestServer::start::<VersionSvc>(version_settings(&databases.versions))
            .await
            .unwrap();
        let mut client = VersionServiceClient::new(server.channel().await.unwrap());
        // No reason: version-svc refuses it (INVALID_ARGUMENT), every time.
        enqueue(db, BLOG, 1, pb::VersionReason::Unspecified).await;
        enqueue(db, BLOG, 2, pb::VersionReason::Update).await;
        enqueue(db, SHOP, 1, pb::VersionReason::Create).await;
        enqueue(db, SHOP, 2, pb::VersionReason::Update).await;

        let _relay = start_relay(db.clone(), &server.url());
        eventually("shop is delivered and blog refused twice", || async {
            queued(db, SHOP).await.is_empty()
                && queued(db, BLOG)
                    .await
                    .first()
                    .is_some_and(|&(_, attempts)| attempts >= 2)
        })
        .await;
        assert_eq!(versions(&mut client, SHOP).await, dense(2), "{backend}");
        assert_eq!(versions(&mut client, BLOG).await, [], "{backend}");
        let blog = queued(db, BLOG).await;
        assert_eq!(blog.len(), 2, "{backend}: kept, never dropped");
        assert_eq!(blog[1], (2, 0), "{backend}: never sent before revision 1");
    }
}

#[tokio::test]
async fn two_relays_on_one_database_keep_each_deployment_in_order() {
    for databases in each_database().await {
        let (backend, db) = (databases.backend, &databases.db);
        let server = TestServer::start::<VersionSvc>(version_settings(&databases.versions))
            .await
            .unwrap();
        let mut client = VersionServiceClient::new(server.channel().await.unwrap());
        let deployments = [SHOP, BLOG, CART];
        for revision in 1..=5 {
            for deployment in deployments {
                enqueue(db, deployment, revision, reason(revision)).await;
            }
        }

        // Two replicas of deployment-svc: each relay on a connection pool of its own.
        let other = eyrie_platform::db::connect(&databases.settings)
            .await
            .unwrap();
        let _first = start_relay(db.clone(), &server.url());
        let _second = start_relay(other, &server.url());
        eventually("the outbox is empty", || async {
            for deployment in deployments {
                if !queued(db, deployment).await.is_empty() {
                    return false;
                }
            }
            true
        })
        .await;
        for deployment in deployments {
            assert_eq!(
                versions(&mut client, deployment).await,
                dense(5),
                "{backend}: {deployment}"
            );
        }
    }
}
