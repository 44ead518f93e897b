//! Helpers for tests of every service (feature `test-util`).

use crate::DatabaseSettings;

/// Variable naming the PostgreSQL database that storage tests also run on (CI sets it).
pub const TEST_DATABASE_URL: &str = "EYRIE_TEST_DATABASE_URL";

/// The databases a storage test must pass on: SQLite (in memory) always, and PostgreSQL when
/// `EYRIE_TEST_DATABASE_URL` is set, in a schema of its own so that no test sees another's rows.
pub fn test_databases() -> Vec<DatabaseSettings> {
    let mut databases = vec![DatabaseSettings::with_url("sqlite::memory:")];
    if let Some(postgres) = postgres_test_database() {
        databases.push(postgres);
    }
    databases
}

/// PostgreSQL settings with a fresh schema, when `EYRIE_TEST_DATABASE_URL` is set.
pub fn postgres_test_database() -> Option<DatabaseSettings> {
    let url = std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|url| !url.is_empty())?;
    Some(DatabaseSettings {
        schema: Some(fresh_schema_name()),
        ..DatabaseSettings::with_url(url)
    })
}

/// A schema name no other test uses: `t_` and a random suffix.
pub fn fresh_schema_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// A short description of where a test runs, for assertion messages.
pub fn describe(settings: &DatabaseSettings) -> &'static str {
    if settings.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}
