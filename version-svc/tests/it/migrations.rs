//! The schema applies, and reverts, on every supported database.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_version_svc::store::migration::Migrator;
use sea_orm::ConnectionTrait as _;
use sea_orm_migration::MigratorTrait as _;

#[tokio::test]
async fn migrations_apply_and_revert_on_sqlite_and_postgres() {
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap_or_else(|err| panic!("{backend}: migrations failed: {err}"));

        // The tables exist with the columns the service relies on.
        db.execute_unprepared(
            "INSERT INTO deployment_versions (deployment, number, revision, key_fields, changed_fields, \
             actor, reason, rollback_to_version, created_at) \
             VALUES ('projects/p/groups/g/deployments/d', 1, 1, '{}', '[]', 'tester', 'create', NULL, CURRENT_TIMESTAMP)",
        )
        .await
        .unwrap_or_else(|err| panic!("{backend}: insert failed: {err}"));

        // The database itself refuses a second version with the same number.
        let duplicate = db
            .execute_unprepared(
                "INSERT INTO deployment_versions (deployment, number, revision, key_fields, changed_fields, \
                 actor, reason, rollback_to_version, created_at) \
                 VALUES ('projects/p/groups/g/deployments/d', 1, 2, '{}', '[]', 'tester', 'update', NULL, CURRENT_TIMESTAMP)",
            )
            .await;
        assert!(
            duplicate.is_err(),
            "{backend}: duplicate version number accepted"
        );

        assert_eq!(
            Migrator::get_pending_migrations(&db).await.unwrap().len(),
            0,
            "{backend}"
        );
        Migrator::down(&db, None)
            .await
            .unwrap_or_else(|err| panic!("{backend}: revert failed: {err}"));
        assert!(
            db.execute_unprepared("SELECT 1 FROM deployment_versions")
                .await
                .is_err(),
            "{backend}: table still there after down"
        );
    }
}
