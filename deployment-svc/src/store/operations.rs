//! Operations in deployment-svc's database, written together with the deployment they act on.

mod retry;

use chrono::{DateTime, Utc};
use eyrie_platform::db::begin_write;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, SqlErr,
};

use super::{
    entity::operation,
    outbox::enqueue_version,
    resources::{find_deployment_for_update, save_deployment, version_record},
};
use crate::domain::{
    DeploymentError, StoreError,
    operation::{Operation, OperationStatus},
    state::{Action, Phase, Refusal, plan, state_when_started, state_when_succeeded},
};

/// What to do after a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the outcome was already applied, or belongs to no running phase.
    Nothing,
    /// Start the job of the operation's next phase.
    StartPhase(Operation),
    /// The operation ended.
    Ended(Operation),
}

fn to_domain(row: operation::Model) -> Result<Operation, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("operation {}: {what}", row.name));
    let phases: Vec<String> = serde_json::from_str(&row.phases).map_err(|_| corrupt("phases"))?;
    Ok(Operation {
        action: Action::parse(&row.action).ok_or_else(|| corrupt("action"))?,
        status: OperationStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
        phases: phases
            .iter()
            .map(|phase| Phase::parse(phase).ok_or_else(|| corrupt("phase")))
            .collect::<Result<_, _>>()?,
        phase_index: usize::try_from(row.phase_index).map_err(|_| corrupt("phase index"))?,
        jobs: serde_json::from_str(&row.jobs).map_err(|_| corrupt("jobs"))?,
        name: row.name,
        deployment: row.deployment,
        actor: row.actor,
        request_id: row.request_id,
        message: row.message,
        rollback_to_version: row.rollback_to_version,
        retry_of: row.retry_of,
        resume_job: row.resume_job,
        create_time: row.create_time,
        end_time: row.end_time,
    })
}

fn to_row(operation: &Operation) -> operation::ActiveModel {
    let phases: Vec<&str> = operation
        .phases
        .iter()
        .map(|phase| phase.as_str())
        .collect();
    operation::ActiveModel {
        name: Set(operation.name.clone()),
        deployment: Set(operation.deployment.clone()),
        action: Set(operation.action.as_str().to_owned()),
        status: Set(operation.status.as_str().to_owned()),
        actor: Set(operation.actor.clone()),
        request_id: Set(operation.request_id.clone()),
        phases: Set(serde_json::to_string(&phases).expect("phases serialise")),
        phase_index: Set(i32::try_from(operation.phase_index).unwrap_or(i32::MAX)),
        jobs: Set(serde_json::to_string(&operation.jobs).expect("jobs serialise")),
        message: Set(operation.message.clone()),
        rollback_to_version: Set(operation.rollback_to_version),
        retry_of: Set(operation.retry_of.clone()),
        resume_job: Set(operation.resume_job.clone()),
        create_time: Set(operation.create_time),
        end_time: Set(operation.end_time),
    }
}

/// A rollback: the key fields of an earlier version, restored before the deploy book runs.
#[derive(Debug, Clone)]
pub struct Rollback {
    /// The version restored.
    pub version: i64,
    /// Its key fields.
    pub key_fields: crate::domain::resources::KeyFields,
}

/// A retry of a failed operation: what it retries and where it starts.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The failed operation.
    pub operation: String,
    /// The job retried, which must be the one the operation ended with.
    pub job: String,
    /// Its phases from the failed one on.
    pub phases: Vec<Phase>,
    /// The failed job, when the retry resumes at its failed step.
    pub resume_job: Option<String>,
}

/// Starts `action` on deployment `deployment` whose scope has `allow_drop`: checks the state
/// machine, records the operation and moves the deployment, in one transaction. A retried
/// `request_id` returns the first operation (`false`) and changes nothing.
#[allow(clippy::too_many_arguments)] // each is one fact of the request; a struct would only rename them
pub async fn start(
    db: &DatabaseConnection,
    deployment: &str,
    action: Action,
    allow_drop: bool,
    actor: &str,
    request_id: Option<&str>,
    retry: Option<Retry>,
    rollback: Option<Rollback>,
    now: DateTime<Utc>,
) -> Result<(Operation, bool), DeploymentError> {
    let txn = begin_write(db).await.map_err(StoreError::from)?;
    if let Some(request_id) = request_id {
        // Request ids are scoped to the deployment: another deployment's operations, maybe
        // another tenant's, are never looked at.
        let existing = operation::Entity::find()
            .filter(operation::Column::Deployment.eq(deployment))
            .filter(operation::Column::RequestId.eq(request_id))
            .one(&txn)
            .await
            .map_err(StoreError::from)?;
        if let Some(existing) = existing {
            let existing = to_domain(existing)?;
            let retried = retry.as_ref().map(|retry| &retry.operation);
            if existing.action != action || existing.retry_of.as_ref() != retried {
                return Err(DeploymentError::Invalid(vec![
                    eyrie_platform::status::FieldViolation::new(
                        "request_id",
                        format!("was used for another request ({})", existing.name),
                    ),
                ]));
            }
            return Ok((existing, false));
        }
    }
    let mut current = find_deployment_for_update(&txn, deployment)
        .await?
        .ok_or_else(|| DeploymentError::not_found("deployment", deployment))?;
    if let Some(retry) = &retry {
        retry::refuse_going_back(&txn, &current, retry).await?;
    }
    let planned = plan(current.state, action, allow_drop)
        .map_err(|refusal| refused(deployment, &refusal))?
        .phases;
    // A retry goes on from the phase that failed (a failed initialize runs deploy after it).
    let phases = retry.as_ref().map_or(planned, |retry| retry.phases.clone());
    let running = operation::Entity::find()
        .filter(operation::Column::Deployment.eq(deployment))
        .filter(operation::Column::Status.eq(OperationStatus::Running.as_str()))
        .one(&txn)
        .await
        .map_err(StoreError::from)?;
    if let Some(running) = running {
        return Err(DeploymentError::FailedPrecondition {
            reason: "OPERATION_RUNNING",
            subject: deployment.to_owned(),
            message: format!(
                "{} is busy: operation {} has not ended",
                deployment, running.name
            ),
        });
    }

    let operation = Operation {
        name: format!("{deployment}/operations/{}", uuid::Uuid::now_v7().simple()),
        deployment: deployment.to_owned(),
        action,
        status: OperationStatus::Running,
        actor: actor.to_owned(),
        request_id: request_id.map(str::to_owned),
        phases,
        phase_index: 0,
        jobs: Vec::new(),
        message: String::new(),
        rollback_to_version: rollback.as_ref().map(|rollback| rollback.version),
        retry_of: retry.as_ref().map(|retry| retry.operation.clone()),
        resume_job: retry.as_ref().and_then(|retry| retry.resume_job.clone()),
        create_time: now,
        end_time: None,
    };
    if let Err(err) = operation::Entity::insert(to_row(&operation))
        .exec_without_returning(&txn)
        .await
    {
        // The unique index of running operations: another replica started one first.
        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return Err(DeploymentError::Conflict(deployment.to_owned()));
        }
        return Err(StoreError::from(err).into());
    }
    current.state = state_when_started(operation.current_phase(), current.state);
    current.last_operation = Some(operation.name.clone());
    let restores = rollback
        .as_ref()
        .is_some_and(|rollback| rollback.key_fields != current.key_fields);
    if let Some(rollback) = &rollback {
        current.key_fields = rollback.key_fields.clone();
    }
    let saved = save_deployment(&txn, &current)
        .await?
        .ok_or_else(|| DeploymentError::Conflict(deployment.to_owned()))?;
    if let (true, Some(rollback)) = (restores, &rollback) {
        // The restored key fields are a new version that says it is a rollback.
        let record = version_record(
            &saved,
            actor,
            eyrie_proto::v1::VersionReason::Rollback,
            rollback.version,
        );
        enqueue_version(&txn, &record)
            .await
            .map_err(StoreError::from)?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok((operation, true))
}

fn refused(deployment: &str, refusal: &Refusal) -> DeploymentError {
    DeploymentError::FailedPrecondition {
        reason: match refusal {
            Refusal::DropNotAllowed => "DROP_NOT_ALLOWED",
            Refusal::InvalidTransition { .. } => "INVALID_TRANSITION",
        },
        subject: deployment.to_owned(),
        message: format!("{deployment}: {refusal}"),
    }
}

/// Records `job` as the job of phase `phase_index` of the operation (once; a repeat is ignored), and
/// the deployment's running-job badge.
pub async fn record_job(
    db: &DatabaseConnection,
    name: &str,
    phase_index: usize,
    job: &str,
) -> Result<(), DeploymentError> {
    let txn = begin_write(db).await.map_err(StoreError::from)?;
    let Some(mut operation) = get_for_update(&txn, name).await? else {
        return Err(DeploymentError::not_found("operation", name));
    };
    // Only while the job's phase is current and has no job yet: the same phase may be started
    // twice (the request and the reconciler), and the job may even have ended and moved the
    // operation on before the second start records it, which must not make it the next
    // phase's job too. Nor once the operation ended (the other start found the phase could
    // not start): an ended operation shows no new job and no running-job badge.
    if operation.awaits_job(phase_index) {
        operation.jobs.push(job.to_owned());
        operation::Entity::update(to_row(&operation))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        set_running_jobs(&txn, &operation.deployment, 1).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Ends operation `name` failed with `message`, because the job of its phase `phase_index`
/// cannot start. Does nothing once that phase is no longer current or has its job (another
/// start won) or the operation ended.
pub async fn end_unstarted(
    db: &DatabaseConnection,
    name: &str,
    phase_index: usize,
    message: &str,
    now: DateTime<Utc>,
) -> Result<Next, DeploymentError> {
    let txn = begin_write(db).await.map_err(StoreError::from)?;
    let Some(mut operation) = get_for_update(&txn, name).await? else {
        return Ok(Next::Nothing);
    };
    if !operation.awaits_job(phase_index) {
        return Ok(Next::Nothing);
    }
    operation.status = OperationStatus::Failed;
    operation.message = message.to_owned();
    operation.end_time = Some(now);
    operation::Entity::update(to_row(&operation))
        .exec(&txn)
        .await
        .map_err(StoreError::from)?;
    // The previous phase's job left the badge on; no job of this operation runs any more.
    set_running_jobs(&txn, &operation.deployment, 0).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Next::Ended(operation))
}

async fn set_running_jobs(
    txn: &DatabaseTransaction,
    deployment: &str,
    count: i32,
) -> Result<(), DeploymentError> {
    if let Some(mut current) = find_deployment_for_update(txn, deployment).await? {
        current.running_job_count = count;
        save_deployment(txn, &current)
            .await?
            .ok_or_else(|| DeploymentError::Conflict(deployment.to_owned()))?;
    }
    Ok(())
}

/// Applies the outcome of `job` (of operation `name`): the next phase, or the end of the
/// operation and the deployment's new state. Idempotent: a repeated or stale outcome does nothing.
pub async fn complete_job(
    db: &DatabaseConnection,
    name: &str,
    job: &str,
    succeeded: bool,
    message: &str,
    now: DateTime<Utc>,
) -> Result<Next, DeploymentError> {
    let txn = begin_write(db).await.map_err(StoreError::from)?;
    let Some(mut operation) = get_for_update(&txn, name).await? else {
        return Ok(Next::Nothing);
    };
    if operation.status != OperationStatus::Running || operation.current_job() != Some(job) {
        return Ok(Next::Nothing);
    }
    let mut current = find_deployment_for_update(&txn, &operation.deployment)
        .await?
        .ok_or_else(|| DeploymentError::not_found("deployment", &operation.deployment))?;
    let phase = operation.current_phase();
    let next = if !succeeded {
        operation.status = OperationStatus::Failed;
        operation.message = message.to_owned();
        operation.end_time = Some(now);
        current.running_job_count = 0;
        Next::Ended(operation.clone())
    } else if operation.phase_index + 1 < operation.phases.len() {
        operation.phase_index += 1;
        current.state = state_when_started(operation.current_phase(), state_when_succeeded(phase));
        Next::StartPhase(operation.clone())
    } else {
        operation.status = OperationStatus::Succeeded;
        operation.end_time = Some(now);
        current.state = state_when_succeeded(phase);
        current.running_job_count = 0;
        Next::Ended(operation.clone())
    };
    operation::Entity::update(to_row(&operation))
        .exec(&txn)
        .await
        .map_err(StoreError::from)?;
    save_deployment(&txn, &current)
        .await?
        .ok_or_else(|| DeploymentError::Conflict(current.name.to_string()))?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(next)
}

/// Operations still running (for the reconciler).
pub async fn running(db: &DatabaseConnection) -> Result<Vec<Operation>, StoreError> {
    operation::Entity::find()
        .filter(operation::Column::Status.eq(OperationStatus::Running.as_str()))
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The operation named `name`, read on `conn` (the pool, or a caller's transaction).
pub async fn get(conn: &impl ConnectionTrait, name: &str) -> Result<Option<Operation>, StoreError> {
    operation::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Operation `name`, its row locked until `txn` ends (on PostgreSQL; SQLite's write
/// transactions are exclusive already), so that the read-then-write of recording a job, ending
/// an unstarted operation and applying a job's outcome cannot interleave and lose one another.
async fn get_for_update(
    txn: &DatabaseTransaction,
    name: &str,
) -> Result<Option<Operation>, StoreError> {
    operation::Entity::find_by_id(name.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Operations of `deployment`, newest first, older than `before` (a name), at most `limit`.
pub async fn list(
    db: &DatabaseConnection,
    deployment: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<Operation>, StoreError> {
    let mut query = operation::Entity::find().filter(operation::Column::Deployment.eq(deployment));
    if let Some(before) = before {
        query = query.filter(operation::Column::Name.lt(before));
    }
    query
        .order_by_desc(operation::Column::Name)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
