//! Schema of book-runner-svc's own tables.

use sea_orm_migration::prelude::*;

mod m20261128_000001_create_books;
mod m20261128_000002_create_jobs;
mod m20261128_000003_index_active_jobs;
mod m20261205_000004_retention_indexes;
mod m20261206_000005_job_signals;
mod m20261207_000006_opening_step;

/// Applies book-runner-svc's migrations, tracked in a table of its own so that services sharing
/// one database never see each other's migrations.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_books::Migration),
            Box::new(m20261128_000002_create_jobs::Migration),
            Box::new(m20261128_000003_index_active_jobs::Migration),
            Box::new(m20261205_000004_retention_indexes::Migration),
            Box::new(m20261206_000005_job_signals::Migration),
            Box::new(m20261207_000006_opening_step::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "book_runner_svc_migrations".into_iden()
    }
}
