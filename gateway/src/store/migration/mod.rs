//! Schema of the gateway's own tables: API tokens, their role bindings and request ids.

use sea_orm_migration::prelude::*;

mod m20261128_000001_create_tokens;
mod m20261201_000001_token_request_ids;

/// Applies the gateway's migrations, tracked in a table of its own.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tokens::Migration),
            Box::new(m20261201_000001_token_request_ids::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "gateway_migrations".into_iden()
    }
}
