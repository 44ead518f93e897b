//! Schema of deployment-svc's own tables.

use sea_orm_migration::prelude::*;

mod m20261128_000001_create_resources;
mod m20261128_000002_create_outbox;
mod m20261128_000003_create_operations;
mod m20261205_000001_scope_request_ids;
mod m20261205_000002_project_boundary;
mod m20261212_000001_deployments_by_project;
mod m20261213_000001_simulated_clusters;
mod m20261215_000001_operation_events_and_trace;
mod m20261215_000002_numbered_versions;

/// Applies deployment-svc's migrations, tracked in a table of its own so that services sharing one
/// database never see each other's migrations.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_resources::Migration),
            Box::new(m20261128_000002_create_outbox::Migration),
            Box::new(m20261128_000003_create_operations::Migration),
            Box::new(m20261205_000001_scope_request_ids::Migration),
            Box::new(m20261205_000002_project_boundary::Migration),
            Box::new(m20261212_000001_deployments_by_project::Migration),
            Box::new(m20261213_000001_simulated_clusters::Migration),
            Box::new(m20261215_000001_operation_events_and_trace::Migration),
            Box::new(m20261215_000002_numbered_versions::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "deployment_svc_migrations".into_iden()
    }
}
