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
    outbox::{enqueue_version, next_version_number},
    resources::{find_deployment_for_update, save_deployment, version_record},
};
use crate::domain::{
    DeploymentError, StoreError,
    lifecycle::{Decision, Event, OperationChange, decide},
    operation::{Operation, OperationStatus},
    state::{Action, Phase, Refusal, state_when_started},
};

/// What an event did to an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The state machine's answer.
    pub decision: Decision,
    /// The operation afterwards; `None` when there is no such operation.
    pub operation: Option<Operation>,
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
        unexpected_events: serde_json::from_str(&row.unexpected_events)
            .map_err(|_| corrupt("unexpected events"))?,
        trace_parent: row.trace_parent,
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
        unexpected_events: Set(
            serde_json::to_string(&operation.unexpected_events).expect("events serialise")
        ),
        trace_parent: Set(operation.trace_parent.clone()),
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
    trace_parent: Option<String>,
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
    let running = operation::Entity::find()
        .filter(operation::Column::Deployment.eq(deployment))
        .filter(operation::Column::Status.eq(OperationStatus::Running.as_str()))
        .one(&txn)
        .await
        .map_err(StoreError::from)?
        .map(to_domain)
        .transpose()?;
    let asked = Event::Asked { action, allow_drop };
    let transition = match decide(
        current.state,
        running.as_ref().map(Operation::view).as_ref(),
        &asked,
    ) {
        Decision::Apply(transition) => transition,
        Decision::Refused(Refusal::Busy) => {
            return Err(DeploymentError::FailedPrecondition {
                reason: "OPERATION_RUNNING",
                subject: deployment.to_owned(),
                message: format!(
                    "{} is busy: operation {} has not ended",
                    deployment,
                    running.map(|running| running.name).unwrap_or_default()
                ),
            });
        }
        Decision::Refused(refusal) => return Err(refused(deployment, &refusal)),
        other => return Err(StoreError::Corrupt(format!("{deployment}: {other:?}")).into()),
    };
    let Some(OperationChange::Begin(planned)) = transition.operation else {
        return Err(StoreError::Corrupt(format!("{deployment}: an action began nothing")).into());
    };
    // A retry goes on from the phase that failed (a failed initialize runs deploy after it).
    let phases = retry.as_ref().map_or(planned, |retry| retry.phases.clone());

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
        unexpected_events: Vec::new(),
        trace_parent,
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
    current.state = match &retry {
        Some(_) => state_when_started(operation.current_phase(), current.state),
        None => transition.state,
    };
    current.last_operation = Some(operation.name.clone());
    let restores = rollback
        .as_ref()
        .is_some_and(|rollback| rollback.key_fields != current.key_fields);
    if let Some(rollback) = &rollback {
        current.key_fields = rollback.key_fields.clone();
    }
    // The restored key fields are a new version, numbered in this transaction.
    let number = if restores {
        next_version_number(&txn, deployment, current.current_version)
            .await
            .map_err(StoreError::from)?
    } else {
        0
    };
    if number > 0 {
        current.current_version = number;
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
            number,
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
            Refusal::Busy => "OPERATION_RUNNING",
        },
        subject: deployment.to_owned(),
        message: format!("{deployment}: {refusal}"),
    }
}

/// Applies `event` to operation `name` and its deployment, as the lifecycle's state machine
/// decides, in one transaction with both rows locked. An event the machine does not expect is
/// recorded on the operation (once) and changes nothing else. Idempotent: a repeated event is a
/// [`Decision::Repeat`].
pub async fn apply_event(
    db: &DatabaseConnection,
    name: &str,
    event: &Event<'_>,
    now: DateTime<Utc>,
) -> Result<Applied, DeploymentError> {
    let txn = begin_write(db).await.map_err(StoreError::from)?;
    let Some(mut operation) = get_for_update(&txn, name).await? else {
        return Ok(Applied {
            decision: Decision::Unexpected(format!("there is no operation {name}")),
            operation: None,
        });
    };
    let mut current = find_deployment_for_update(&txn, &operation.deployment)
        .await?
        .ok_or_else(|| DeploymentError::not_found("deployment", &operation.deployment))?;
    let decision = decide(current.state, Some(&operation.view()), event);
    match &decision {
        Decision::Apply(transition) => {
            match &transition.operation {
                Some(OperationChange::RecordJob) => {
                    if let Event::JobStarted { job, .. } = event {
                        operation.jobs.push((*job).to_owned());
                    }
                }
                Some(OperationChange::NextPhase) => operation.phase_index += 1,
                Some(OperationChange::Succeed) => {
                    operation.status = OperationStatus::Succeeded;
                    operation.end_time = Some(now);
                }
                Some(OperationChange::Fail(message)) => {
                    operation.status = OperationStatus::Failed;
                    operation.message.clone_from(message);
                    operation.end_time = Some(now);
                }
                Some(OperationChange::Begin(_)) | None => {}
            }
            if transition.operation.is_some() {
                save(&txn, &operation).await?;
            }
            let badge = transition.running_jobs.unwrap_or(current.running_job_count);
            // The deployment shows its last operation (its jobs, its status): a change of the
            // operation is a change of the deployment too, with a new revision for the watches.
            if transition.operation.is_some()
                || transition.state != current.state
                || badge != current.running_job_count
            {
                current.state = transition.state;
                current.running_job_count = badge;
                save_deployment(&txn, &current)
                    .await?
                    .ok_or_else(|| DeploymentError::Conflict(current.name.to_string()))?;
            }
        }
        Decision::Unexpected(description) => {
            if !operation.unexpected_events.contains(description) {
                operation.unexpected_events.push(description.clone());
                save(&txn, &operation).await?;
            }
        }
        Decision::Repeat | Decision::Later | Decision::Refused(_) => {}
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Applied {
        decision,
        operation: Some(operation),
    })
}

async fn save(txn: &DatabaseTransaction, operation: &Operation) -> Result<(), StoreError> {
    operation::Entity::update(to_row(operation))
        .exec(txn)
        .await?;
    Ok(())
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
