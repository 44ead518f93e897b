//! Schema of deployment-svc's own tables.

use sea_orm_migration::prelude::*;

/// Applies deployment-svc's migrations, tracked in a table of its own so that services sharing one
/// database never see each other's migrations. Its tables arrive with the issue that builds
/// the service.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }

    fn migration_table_name() -> DynIden {
        "deployment_svc_migrations".into_iden()
    }
}
