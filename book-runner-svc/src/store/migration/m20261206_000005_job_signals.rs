//! On PostgreSQL, the jobs table tells every replica what changed, as it commits, on the
//! `NOTIFY` channel `eyrie_jobs.<schema>` (see `SeaJobStore::signals_channel`):
//!
//! - a new job (a statement trigger on `jobs`): an empty payload, which wakes an idle worker of
//!   every replica, so idle workers wait for it instead of asking the database every few
//!   hundred milliseconds;
//! - new events of a job (a statement trigger on `job_events`): the job's id, which wakes the
//!   followers of that job's watchers on every replica, so a watcher connected to a replica
//!   that does not run the job sees its events at once.
//!
//! PostgreSQL delivers the notifications when the writing transaction commits (never for one
//! that rolls back), and sends one per distinct payload per transaction; the triggers cost the
//! writers no round trip. SQLite serves one process, which wakes its workers and followers in
//! memory.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION jobs_queued_signal() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     PERFORM pg_notify('eyrie_jobs.' || TG_TABLE_SCHEMA, '');
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER jobs_queued_signal AFTER INSERT ON jobs
                     FOR EACH STATEMENT EXECUTE FUNCTION jobs_queued_signal();
                 CREATE FUNCTION job_events_signal() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     PERFORM pg_notify('eyrie_jobs.' || TG_TABLE_SCHEMA, job_id)
                         FROM (SELECT DISTINCT job_id FROM added) AS jobs;
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER job_events_signal AFTER INSERT ON job_events
                     REFERENCING NEW TABLE AS added
                     FOR EACH STATEMENT EXECUTE FUNCTION job_events_signal();",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TRIGGER IF EXISTS job_events_signal ON job_events;
                 DROP FUNCTION IF EXISTS job_events_signal();
                 DROP TRIGGER IF EXISTS jobs_queued_signal ON jobs;
                 DROP FUNCTION IF EXISTS jobs_queued_signal();",
            )
            .await?;
        Ok(())
    }
}
