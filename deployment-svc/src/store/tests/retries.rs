//! A retry goes on from where the deployment is, never back.

use sea_orm::DatabaseConnection;

use super::{databases, deploy, meta, new_deployment, project};
use crate::{
    domain::{
        DeploymentError,
        lifecycle::{Event, JobEnd},
        operation::{Operation, OperationStatus},
        state::{Phase, State},
    },
    store::{
        operations::{self, Retry},
        resources::{ResourceStore, find_deployment, now},
    },
};

/// Runs operation `name` to its end: each phase's job `{label}-{phase index}` succeeds, but the
/// one of phase `fail_at` (if any) fails.
async fn run(db: &DatabaseConnection, operation: &Operation, label: &str, fail_at: Option<usize>) {
    for index in 0..operation.phases.len() {
        let job = format!("{}/jobs/{label}-{index}", operation.deployment);
        let started = Event::JobStarted {
            phase_index: index,
            job: &job,
        };
        operations::apply_event(db, &operation.name, &started, now())
            .await
            .unwrap();
        let failed = fail_at == Some(index);
        let end = if failed {
            JobEnd::Failed("failed")
        } else {
            JobEnd::Succeeded
        };
        let ended = Event::JobEnded { job: &job, end };
        operations::apply_event(db, &operation.name, &ended, now())
            .await
            .unwrap();
        if failed {
            return;
        }
    }
}

async fn retry(
    db: &DatabaseConnection,
    failed: &Operation,
    job: &str,
) -> Result<(Operation, bool), DeploymentError> {
    operations::start(
        db,
        &failed.deployment,
        failed.action,
        true,
        "tokens/test",
        None,
        Some(Retry {
            operation: failed.name.clone(),
            job: job.to_owned(),
            phases: failed.phases[failed.phase_index..].to_vec(),
            resume_job: None,
        }),
        None,
        None,
        now(),
    )
    .await
}

fn refused_as_not_latest(
    outcome: Result<(Operation, bool), DeploymentError>,
    naming: &str,
) -> bool {
    matches!(
        outcome,
        Err(DeploymentError::FailedPrecondition { reason: "RETRY_NOT_LATEST", ref message, .. })
            if message.contains(naming)
    )
}

#[tokio::test]
async fn an_old_failure_is_not_retried_once_the_deployment_moved_on() {
    for (backend, db) in databases().await {
        let store = ResourceStore::new(db.clone());
        project(&store, "acme").await;
        let shop = store
            .create_deployment(&new_deployment("acme"), &meta(""))
            .await
            .unwrap()
            .name
            .to_string();

        // The first Deploy fails at initialize; the second one deploys.
        let first = deploy(&db, &shop, None).await;
        run(&db, &first, "first", Some(0)).await;
        let first = operations::get(&db, &first.name).await.unwrap().unwrap();
        assert_eq!(first.status, OperationStatus::Failed, "{backend}");
        let second = deploy(&db, &shop, None).await;
        run(&db, &second, "second", None).await;
        let deployed = find_deployment(&db, &shop).await.unwrap().unwrap();
        assert_eq!(deployed.state, State::Deploy, "{backend}");

        // Retrying the first initialize job would take the deployed shop back to initialize.
        let old_job = format!("{shop}/jobs/first-0");
        assert!(
            refused_as_not_latest(retry(&db, &first, &old_job).await, &second.name),
            "{backend}"
        );
        assert_eq!(
            find_deployment(&db, &shop).await.unwrap().unwrap(),
            deployed,
            "{backend}: the refused retry changed nothing"
        );
        let log = operations::list(&db, &shop, None, 10).await.unwrap();
        assert_eq!(log.len(), 2, "{backend}: no operation was recorded");

        // The latest failure can be retried, with the job it ended with only.
        let third = deploy(&db, &shop, None).await;
        run(&db, &third, "third", Some(0)).await;
        let third = operations::get(&db, &third.name).await.unwrap().unwrap();
        assert_eq!(third.phases, [Phase::Deploy], "{backend}");
        let stray = format!("{shop}/jobs/stray");
        assert!(
            refused_as_not_latest(retry(&db, &third, &stray).await, "third-0"),
            "{backend}"
        );
        let (retried, created) = retry(&db, &third, &format!("{shop}/jobs/third-0"))
            .await
            .unwrap();
        assert!(created, "{backend}");
        assert_eq!(retried.retry_of.as_deref(), Some(third.name.as_str()));
    }
}
