//! Connections to a service's own database, SQLite or PostgreSQL, with its migrations applied.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Connects to the database of `settings`, creating the PostgreSQL schema if one is named.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let url = settings
        .url
        .as_ref()
        .ok_or_else(|| DbErr::Custom("database.url is not set (EYRIE_DATABASE__URL)".to_owned()))?
        .expose_secret();
    let mut options = ConnectOptions::new(url.to_owned());
    // An in-memory SQLite database exists per connection: one connection keeps one database.
    let max_connections = if url.contains(":memory:") {
        1
    } else {
        settings.max_connections
    };
    options
        .max_connections(max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    // Connections broken by a server restart, or by a proxy dropping idle ones, have mostly
    // been idle longer than `ping_when_idle_for` and are replaced before a call uses them (as
    // HikariCP does within the same 500 ms by default). One that breaks while in use fails its
    // one call, reported as the database being unreachable (`StoreError::is_unreachable`:
    // callers may try again), and sqlx drops it on release.
    if !settings.ping_when_idle_for.is_zero() {
        options.test_before_acquire_if_idle_for(settings.ping_when_idle_for);
    }
    let idle_in_transaction = settings.idle_in_transaction_timeout.as_millis();
    if idle_in_transaction > 0 {
        options.map_sqlx_postgres_opts(move |options| {
            options.options([(
                "idle_in_transaction_session_timeout",
                idle_in_transaction.to_string(),
            )])
        });
    }
    let schema = settings
        .schema
        .as_deref()
        .filter(|_| settings.is_postgres());
    if let Some(schema) = schema {
        validate_schema_name(schema)?;
        options.set_schema_search_path(schema.to_owned());
    }

    create_sqlite_parent_dir(url)?;
    let connection = Database::connect(options).await?;
    if let Some(schema) = schema {
        let created = connection
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await;
        match created {
            // Replicas starting together: "IF NOT EXISTS" is checked before the insert, so all
            // but one may fail on the catalog's unique index. The schema is there all the same.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            other => {
                other?;
            }
        }
    }
    Ok(connection)
}

/// Connects, then applies `M`'s pending migrations when `migrate_on_start` is set.
pub async fn connect_and_migrate<M: MigratorTrait>(
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, DbErr> {
    let connection = connect(settings).await?;
    if settings.migrate_on_start {
        migrate::<M>(&connection, settings).await?;
    }
    Ok(connection)
}

/// Applies `M`'s pending migrations. On PostgreSQL, replicas that start together take turns:
/// each holds an advisory lock, per schema, while it migrates, so the second waits for the
/// first and then finds nothing left to do, instead of creating the same tables at the same
/// time and failing. The lock is per schema and migration table, so services sharing a schema
/// do not wait for each other. (SQLite's database belongs to one process.)
pub async fn migrate<M: MigratorTrait>(
    connection: &DatabaseConnection,
    settings: &DatabaseSettings,
) -> Result<(), DbErr> {
    if connection.get_database_backend() != DbBackend::Postgres {
        return M::up(connection, None).await;
    }
    // The lock lives as long as this transaction, on a connection of its own: it is released
    // however the migrations end, and a replica that dies while holding it lets go with its
    // connection.
    let lock = connection.begin().await?;
    let key = format!("{}.{}", schema_of(settings), M::migration_table_name());
    lock.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        [key.into()],
    ))
    .await?;
    let migrated = M::up(connection, None).await;
    lock.commit().await?;
    migrated
}

/// Write transactions begun by this process, for tests that check how many a request takes.
static WRITE_TRANSACTIONS: AtomicU64 = AtomicU64::new(0);

/// How many write transactions ([`begin_write`]) this process has begun.
pub fn write_transactions_begun() -> u64 {
    WRITE_TRANSACTIONS.load(Ordering::Relaxed)
}

/// Begins a transaction that will write.
///
/// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a transaction that reads first
/// and writes later could otherwise fail with "database is locked" when another connection
/// wrote in between, instead of waiting its turn. PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    WRITE_TRANSACTIONS.fetch_add(1, Ordering::Relaxed);
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// SQLite creates the file (`mode=rwc`) but not its folder.
fn create_sqlite_parent_dir(url: &str) -> Result<(), DbErr> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = std::path::Path::new(rest.split('?').next().unwrap_or(rest));
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent)
            .map_err(|err| DbErr::Custom(format!("cannot create {}: {err}", parent.display()))),
        _ => Ok(()),
    }
}

/// Schema names are interpolated into SQL, so only plain identifiers are allowed.
fn validate_schema_name(schema: &str) -> Result<(), DbErr> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(())
    } else {
        Err(DbErr::Custom(format!(
            "database.schema {schema:?} must be a lowercase identifier (a-z, 0-9, _)"
        )))
    }
}

/// The schema tables are created in: the configured one, or PostgreSQL's default.
fn schema_of(settings: &DatabaseSettings) -> &str {
    settings.schema.as_deref().unwrap_or("public")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(validate_schema_name("eyrie_versions").is_ok());
        assert!(validate_schema_name("t_0192").is_ok());
        for bad in [
            "",
            "Public",
            "x; DROP TABLE y",
            "9lives",
            "a-b",
            "\"quoted\"",
        ] {
            assert!(
                validate_schema_name(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    /// A connection the server ended while it was in use (a restart, an administrator) costs
    /// at most one call, which reports the database unreachable; the pool then replaces it.
    #[tokio::test]
    async fn a_connection_the_server_ended_fails_one_call_at_most_as_unreachable() {
        let Some(postgres) = crate::testing::postgres_test_database() else {
            eprintln!("skipped: needs PostgreSQL (EYRIE_TEST_DATABASE_URL)");
            return;
        };
        let settings = DatabaseSettings {
            max_connections: 1,
            ..postgres.clone()
        };
        let db = connect(&settings).await.unwrap();
        let administrator = connect(&postgres).await.unwrap();
        let backend_pid = |db: DatabaseConnection| async move {
            db.query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await
            .map(|row| row.unwrap().try_get::<i32>("", "pid").unwrap())
        };
        let ended = backend_pid(db.clone()).await.unwrap();
        administrator
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_terminate_backend($1)",
                [ended.into()],
            ))
            .await
            .unwrap();
        // Used a moment ago, the connection is handed out unpinged: the call fails, unless
        // the machine was slow enough for the idle ping to replace the connection first.
        let first = backend_pid(db.clone()).await;
        println!("the call after connection {ended} was ended: {first:?}");
        if let Err(err) = first {
            let err = crate::store_error::StoreError::from(err);
            assert!(err.is_unreachable(), "{err}");
            assert_eq!(crate::status::store(&err).code(), tonic::Code::Unavailable);
        }
        let replaced = backend_pid(db)
            .await
            .expect("the next call gets a new connection");
        assert_ne!(replaced, ended);
    }

    /// A frozen replica's open transaction must not hold its row locks for ever: PostgreSQL
    /// ends the session once it sat idle in the transaction for the configured time.
    #[tokio::test]
    async fn a_session_idle_in_a_transaction_is_ended_and_its_locks_released() {
        let Some(postgres) = crate::testing::postgres_test_database() else {
            eprintln!("skipped: needs PostgreSQL (EYRIE_TEST_DATABASE_URL)");
            return;
        };
        let settings = DatabaseSettings {
            max_connections: 2,
            idle_in_transaction_timeout: Duration::from_millis(300),
            ..postgres
        };
        let db = connect(&settings).await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)",
        )
        .await
        .unwrap();
        let frozen = begin_write(&db).await.unwrap();
        frozen
            .execute_unprepared("SELECT id FROM held WHERE id = 1 FOR UPDATE")
            .await
            .unwrap();
        // The holder stops talking to the server, as a frozen process would. Without the
        // timeout the row stays locked for as long as the holder sleeps: ten seconds here.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let free = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT id FROM held WHERE id = 1 FOR UPDATE SKIP LOCKED",
                ))
                .await
                .unwrap();
            if free.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the lock was never released"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            frozen.execute_unprepared("SELECT 1").await.is_err(),
            "the idle transaction was ended"
        );
    }
}
