//! The runners' jobs table, read straight from PostgreSQL: which process holds which job.
//!
//! A runner names itself `host/pid/random` on the leases it holds, so the holder of a job is a
//! process the harness can freeze.

use std::{collections::HashSet, time::SystemTime};

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use super::late_writes::LostJob;

/// A running job and the process holding its lease.
#[derive(Debug, Clone)]
pub struct HeldJob {
    pub id: String,
    /// The deployment's resource name.
    pub deployment: String,
    pub pid: u32,
}

/// Reads the jobs of the runners' schema (a fresh connection per read: PostgreSQL may have
/// restarted in between). The schema's name is the fleet's own, never a value from the load, so
/// it is written into the statements.
#[derive(Debug, Clone)]
pub struct RunnerJobs {
    url: String,
    schema: String,
}

impl RunnerJobs {
    pub fn new(url: &str, schema: &str) -> Self {
        Self {
            url: url.to_owned(),
            schema: schema.to_owned(),
        }
    }

    async fn connect(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.url)
            .await
            .context("connecting to the runners' database")
    }

    /// Every running job whose lease a process holds.
    pub async fn held_by_process(&self) -> anyhow::Result<Vec<HeldJob>> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(AssertSqlSafe(format!(
            r#"SELECT id, deployment, lease_owner FROM "{}".jobs WHERE status = 'running'"#,
            self.schema
        )))
        .fetch_all(&mut self.connect().await?)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, deployment, owner)| {
                Some(HeldJob {
                    id,
                    deployment,
                    pid: pid_of(&owner?)?,
                })
            })
            .collect())
    }

    /// The running jobs process `pid` holds.
    pub async fn held_by(&self, pid: u32) -> anyhow::Result<Vec<HeldJob>> {
        let mut held = self.held_by_process().await?;
        held.retain(|job| job.pid == pid);
        Ok(held)
    }

    /// Those of `jobs` that `pid` no longer holds: another runner claimed them (and may have
    /// ended them).
    pub async fn taken_from(&self, pid: u32, jobs: &[HeldJob]) -> anyhow::Result<HashSet<String>> {
        let still: HashSet<String> = self
            .held_by(pid)
            .await?
            .into_iter()
            .map(|job| job.id)
            .collect();
        Ok(jobs
            .iter()
            .map(|job| job.id.clone())
            .filter(|id| !still.contains(id))
            .collect())
    }

    /// Fills in when each of `jobs` ended.
    pub async fn read_ends(&self, jobs: &mut [LostJob]) -> anyhow::Result<()> {
        let ids: Vec<String> = jobs.iter().map(|job| job.job.clone()).collect();
        let rows: Vec<(String, Option<f64>)> = sqlx::query_as(AssertSqlSafe(format!(
            r#"SELECT id, extract(epoch FROM ended_at)::float8 FROM "{}".jobs WHERE id = ANY($1)"#,
            self.schema
        )))
        .bind(&ids)
        .fetch_all(&mut self.connect().await?)
        .await?;
        for (id, ended) in rows {
            if let Some(job) = jobs.iter_mut().find(|job| job.job == id) {
                job.ended_at = ended.map(|seconds| {
                    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(seconds)
                });
            }
        }
        Ok(())
    }
}

/// The process id in a lease owner's name (`host/pid/random`).
fn pid_of(owner: &str) -> Option<u32> {
    let mut parts = owner.rsplitn(3, '/');
    let _random = parts.next()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pid_is_read_from_the_owner_name() {
        assert_eq!(super::pid_of("node-1/4242/0123456789ab"), Some(4242));
        assert_eq!(super::pid_of("4242/0123456789ab"), Some(4242));
        assert_eq!(super::pid_of("runner-0123"), None);
    }
}
