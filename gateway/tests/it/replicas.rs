//! Replicas of the gateway that start at the same moment on one database (a rollout, or every
//! pod of a fresh installation): they migrate the schema once between them and store the
//! bootstrap admin once, and every one of them starts.

use eyrie_gateway::{
    bootstrap::{generate_token, load_or_create_token},
    store::{TokenStore, hash_token, migration::Migrator},
};
use eyrie_platform::testing::{describe, postgres_test_database, test_databases};
use futures::future::join_all;
use sea_orm::{ConnectionTrait as _, Statement};
use sea_orm_migration::MigratorTrait as _;

/// How many replicas start together.
const REPLICAS: usize = 6;

#[tokio::test]
async fn replicas_starting_together_on_a_fresh_postgresql_schema_all_migrate_it() {
    // SQLite serves one process; replicas share PostgreSQL.
    let Some(settings) = postgres_test_database() else {
        eprintln!("skipped: EYRIE_TEST_DATABASE_URL is not set");
        return;
    };
    let starts =
        (0..REPLICAS).map(|_| eyrie_platform::db::connect_and_migrate::<Migrator>(&settings));
    let started = join_all(starts).await;
    for (replica, outcome) in started.iter().enumerate() {
        if let Err(err) = outcome {
            panic!("replica {replica} failed to migrate: {err}");
        }
    }
    let db = started.into_iter().next().unwrap().unwrap();
    let applied = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM gateway_migrations",
        ))
        .await
        .unwrap();
    let mut versions: Vec<String> = applied
        .iter()
        .map(|row| row.try_get::<String>("", "version").unwrap())
        .collect();
    versions.sort();
    let mut expected: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    expected.sort();
    assert_eq!(versions, expected, "every migration applied, once");
}

#[tokio::test]
async fn replicas_starting_together_store_the_bootstrap_admin_once() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap_or_else(|err| panic!("{backend}: migrations failed: {err}"));
        let token = generate_token();
        let stores: Vec<TokenStore> = (0..REPLICAS).map(|_| TokenStore::new(db.clone())).collect();
        let outcomes = join_all(
            stores
                .iter()
                .map(|store| store.ensure_global_admin(&token, "bootstrap admin")),
        )
        .await;
        for outcome in outcomes {
            outcome.unwrap_or_else(|err| panic!("{backend}: a replica failed to start: {err}"));
        }
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                match db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT id FROM api_tokens WHERE token_hash = $1"
                    }
                    _ => "SELECT id FROM api_tokens WHERE token_hash = ?",
                },
                [hash_token(&token).into()],
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{backend}: one bootstrap admin");
    }
}

#[test]
fn replicas_sharing_a_fresh_token_file_all_read_the_same_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets/admin-token");
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..REPLICAS)
            .map(|_| scope.spawn(|| load_or_create_token(&path)))
            .collect();
        readers
            .into_iter()
            .map(|reader| {
                reader
                    .join()
                    .unwrap()
                    .expect("every replica gets the token")
            })
            .collect()
    });
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), tokens[0]);
}
