//! The lifecycle: Deploy, Pause and Drop start operations whose books run as jobs in
//! book-runner-svc; job outcomes move the operation and the deployment on. A reconciler asks
//! the runner about operations still running, so a lost outcome report never leaves a
//! deployment stuck.

use std::{sync::Arc, time::Duration};

use eyrie_platform::{changes::Changes, names::DeploymentName};
use eyrie_proto::{internal::v1::JobOutcome, v1 as pb};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    domain::{
        DeploymentError, StoreError,
        lifecycle::{Decision, Effect, Event, JobEnd, decide},
        operation::{Operation, OperationStatus},
        requirements::missing_parameters,
        resources::{Deployment, DeploymentGroup, Scope},
        state::{Action, Phase},
    },
    store::{
        operations::{self, Applied},
        resources::{
            deployment_states, find_clusters, find_deployment, find_group, find_project,
            find_scope, now, project_namespaces,
        },
    },
};

use super::{
    peers::{BookCatalog, DeploymentContext, JobRunner, StartRefused, VersionHistory},
    phase_start::{NotStarted, is_transient_preparation},
};

/// Jobs asked about per outcomes call (book-runner-svc takes up to 1000).
const OUTCOMES_PER_CALL: usize = 500;

/// book-runner-svc, as the lifecycle uses it.
#[derive(Clone)]
pub struct Runner {
    /// Starts jobs and reads their outcomes.
    pub jobs: Arc<dyn JobRunner>,
    /// The books' types and required parameters, remembered for a while.
    pub books: Arc<dyn BookCatalog>,
}

/// Lifecycle actions of deployments.
pub struct Lifecycle {
    db: DatabaseConnection,
    runner: Option<Runner>,
    versions: Option<Arc<dyn VersionHistory>>,
    /// Told of every operation and deployment written, for the watches.
    changes: Arc<Changes>,
    /// Wakes the starter: a phase awaits its job.
    starter: tokio::sync::Notify,
}

impl Lifecycle {
    /// Actions recorded in `db`, run by `runner` (none: actions are refused), each change told
    /// to `changes`.
    pub fn new(
        db: DatabaseConnection,
        runner: Option<Runner>,
        versions: Option<Arc<dyn VersionHistory>>,
        changes: Arc<Changes>,
    ) -> Self {
        Self {
            db,
            runner,
            versions,
            changes,
            starter: tokio::sync::Notify::new(),
        }
    }

    /// The signals of deployment changes, for the watches.
    pub fn changes(&self) -> &Arc<Changes> {
        &self.changes
    }

    fn runner(&self, deployment: &DeploymentName) -> Result<Runner, DeploymentError> {
        self.runner.clone().ok_or_else(|| DeploymentError::FailedPrecondition {
            reason: "RUNNER_NOT_CONFIGURED",
            subject: deployment.to_string(),
            message: "lifecycle actions need book-runner-svc, which this deployment-svc is not configured to reach (peers.book_runner)".to_owned(),
        })
    }

    /// Runs `action` on `name`, as `actor`; a retried `request_id` returns the first operation.
    pub async fn act(
        &self,
        name: &DeploymentName,
        action: Action,
        actor: &str,
        request_id: Option<&str>,
        rollback_to_version: Option<i64>,
    ) -> Result<Operation, DeploymentError> {
        let runner = self.runner(name)?;
        let deployment = find_deployment(&self.db, &name.to_string())
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment", name.to_string()))?;
        let scope = self.scope_of(&deployment).await?;
        let phases = crate::domain::state::plan(deployment.state, action, scope.allow_drop)
            .map(|plan| plan.phases)
            .unwrap_or_default();
        self.check_required_parameters(&runner, &deployment, &phases)
            .await?;
        let rollback = match rollback_to_version {
            Some(version) => Some(self.rollback(&deployment, version).await?),
            None => None,
        };

        let (operation, created) = operations::start(
            &self.db,
            &name.to_string(),
            action,
            scope.allow_drop,
            actor,
            request_id,
            None,
            rollback,
            eyrie_platform::trace_context::current_traceparent(),
            now(),
        )
        .await?;
        if created {
            tracing::info!(operation = %operation.name, action = action.as_str(), actor, "operation started");
            // The effects of the transaction that began the operation, now that it committed:
            // the starter starts its first job (the phase is `starting` until then, which is
            // what makes the start survive a crash), and the watches hear of it.
            self.starter.notify_one();
            self.changes.publish(&operation.deployment).await;
        }
        Ok(operation)
    }

    /// Starts the jobs of every operation whose current phase has none, each time it is woken
    /// (an operation began or moved to its next phase) and every `interval` (after a crash, a
    /// transient refusal, or a phase another replica moved), until `shutdown`.
    pub async fn run_starter(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(err) = self.start_pending().await {
                tracing::warn!(error = %err, "starting pending jobs failed; will retry");
            }
            tokio::select! {
                () = self.starter.notified() => {}
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// One pass of the starter. StartJob is idempotent per phase, so two replicas starting the
    /// same phase get the same job, and the second record of it is a repeat.
    async fn start_pending(&self) -> Result<(), DeploymentError> {
        let Some(runner) = &self.runner else {
            return Ok(());
        };
        for operation in operations::running(&self.db).await? {
            if operation.current_job().is_some() {
                continue;
            }
            if let Err(NotStarted::WillRetry(err)) = self.start_phase(runner, &operation).await {
                tracing::warn!(operation = %operation.name, error = %err, "job not started yet; will retry");
            }
        }
        Ok(())
    }

    /// The key fields of version `version` of `deployment`, from version-svc, checked against
    /// the project as it is now (its scope and clusters must still exist).
    async fn rollback(
        &self,
        deployment: &Deployment,
        version: i64,
    ) -> Result<operations::Rollback, DeploymentError> {
        let Some(versions) = &self.versions else {
            return Err(DeploymentError::FailedPrecondition {
                reason: "VERSIONS_NOT_CONFIGURED",
                subject: deployment.name.to_string(),
                message: "a rollback reads the version from version-svc, which this deployment-svc is not configured to reach (peers.version)".to_owned(),
            });
        };
        let key_fields = versions.key_fields(&deployment.name, version).await?;
        if find_scope(&self.db, &key_fields.scope).await?.is_none()
            || find_clusters(&self.db, &key_fields.clusters).await?.len()
                != key_fields.clusters.len()
        {
            return Err(DeploymentError::FailedPrecondition {
                reason: "VERSION_REFERS_TO_MISSING_RESOURCES",
                subject: format!("{}/versions/{version}", deployment.name),
                message:
                    "rollback_to_version: the scope or a cluster of that version no longer exists"
                        .to_owned(),
            });
        }
        Ok(operations::Rollback {
            version,
            key_fields,
        })
    }

    /// Refuses an action whose books declare required parameters the deployment lacks, naming
    /// every one of them across all the action's phases at once. The books are those the
    /// catalog remembers: no call to the runner once it read them.
    async fn check_required_parameters(
        &self,
        runner: &Runner,
        deployment: &Deployment,
        phases: &[Phase],
    ) -> Result<(), DeploymentError> {
        let group = self.group_of(deployment).await?;
        let mut books = Vec::new();
        for phase in phases {
            let name = group.books.get(*phase);
            if books.iter().any(|(read, _)| read == name) {
                continue;
            }
            let book = runner.books.book(name).await?.ok_or_else(|| {
                DeploymentError::FailedPrecondition {
                    reason: "BOOK_NOT_FOUND",
                    subject: name.to_owned(),
                    message: format!(
                        "the {} book {name} of the group does not exist",
                        phase.as_str()
                    ),
                }
            })?;
            books.push((name.to_owned(), book));
        }
        let violations = missing_parameters(&deployment.key_fields.parameters, &books);
        if violations.is_empty() {
            return Ok(());
        }
        Err(DeploymentError::MissingParameters {
            deployment: deployment.name.to_string(),
            violations,
        })
    }

    /// The group of `deployment`, which must exist.
    async fn group_of(&self, deployment: &Deployment) -> Result<DeploymentGroup, DeploymentError> {
        let name = deployment.group().to_string();
        find_group(&self.db, &name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment group", name))
    }

    /// The scope `deployment` is in, which must exist.
    async fn scope_of(&self, deployment: &Deployment) -> Result<Scope, DeploymentError> {
        let name = &deployment.key_fields.scope;
        find_scope(&self.db, name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("scope", name))
    }

    /// Starts the job of the operation's current phase (idempotent: the StartJob request id is
    /// derived from the operation and phase). A job that can never start ends the operation,
    /// failed with the reason; any other failure is left for the reconciler to try again.
    async fn start_phase(
        &self,
        runner: &Runner,
        operation: &Operation,
    ) -> Result<pb::Job, NotStarted> {
        // The start belongs to the trace of the call that asked for the operation, however
        // much later it runs.
        let span = tracing::info_span!(
            "start job",
            operation = %operation.name,
            phase = operation.current_phase().as_str()
        );
        if let Some(parent) = &operation.trace_parent {
            eyrie_platform::trace_context::continue_trace(&span, parent);
        }
        self.start_phase_now(runner, operation)
            .instrument(span)
            .await
    }

    async fn start_phase_now(
        &self,
        runner: &Runner,
        operation: &Operation,
    ) -> Result<pb::Job, NotStarted> {
        let phase = operation.current_phase();
        let context = match self.context(&operation.deployment).await {
            Ok(context) => context,
            Err(err) if is_transient_preparation(&err) => return Err(NotStarted::WillRetry(err)),
            Err(err) => {
                let reason = format!("the {} job could not start: {err}", phase.as_str());
                return Err(self.end_unstarted(operation, reason).await);
            }
        };
        let book = context.group.books.get(phase);
        let job = match runner.jobs.start_job(operation, book, &context).await {
            Ok(job) => job,
            Err(StartRefused::Transient(err)) => return Err(NotStarted::WillRetry(err)),
            Err(StartRefused::Permanent(why)) => {
                let reason = format!("the {} book {book} could not start: {why}", phase.as_str());
                return Err(self.end_unstarted(operation, reason).await);
            }
        };
        let started = Event::JobStarted {
            phase_index: operation.phase_index,
            job: &job.name,
        };
        let applied = operations::apply_event(&self.db, &operation.name, &started, now())
            .await
            .map_err(NotStarted::WillRetry)?;
        tracing::info!(operation = %operation.name, job = %job.name, phase = phase.as_str(), "job started");
        self.after(&applied).await;
        Ok(job)
    }

    /// Ends `operation` failed with `reason`, because the job of its current phase cannot start.
    async fn end_unstarted(&self, operation: &Operation, reason: String) -> NotStarted {
        let event = Event::JobNotStarted {
            phase_index: operation.phase_index,
            reason: &reason,
        };
        match operations::apply_event(&self.db, &operation.name, &event, now()).await {
            Ok(applied) => {
                if matches!(applied.decision, Decision::Apply(_)) {
                    tracing::warn!(operation = %operation.name, %reason, "operation failed: its job cannot start");
                }
                self.after(&applied).await;
                // Otherwise another start or an outcome moved the operation on meanwhile.
                NotStarted::OperationEnded(reason)
            }
            // Not recorded: the next try decides again.
            Err(err) => NotStarted::WillRetry(err),
        }
    }

    /// What follows an applied event: an unexpected one is logged (it is on the operation), and
    /// the transition's effects run now that it committed. Starting the next job is left to the
    /// callers that may do it (a job outcome, the reconciler) through [`Self::start_next`].
    async fn after(&self, applied: &Applied) {
        let Some(operation) = &applied.operation else {
            if let Decision::Unexpected(description) = &applied.decision {
                tracing::warn!(%description, "unexpected lifecycle event");
            }
            return;
        };
        match &applied.decision {
            Decision::Unexpected(description) => {
                tracing::warn!(operation = %operation.name, %description, "unexpected lifecycle event, recorded on the operation");
                self.changes.publish(&operation.deployment).await;
            }
            Decision::Apply(transition) => {
                if transition.effects.contains(&Effect::Publish) {
                    self.changes.publish(&operation.deployment).await;
                }
                if operation.status != OperationStatus::Running {
                    tracing::info!(operation = %operation.name, status = operation.status.as_str(), "operation ended");
                }
            }
            Decision::Repeat | Decision::Later | Decision::Refused(_) => {}
        }
    }

    /// Wakes the starter when the applied event's transition starts a job (the next phase).
    fn start_next(&self, applied: &Applied) {
        if let Decision::Apply(transition) = &applied.decision
            && transition.effects.contains(&Effect::StartJob)
        {
            self.starter.notify_one();
        }
    }

    /// Retries the failed operation of `job` as a new operation of the same action (RetryJob of
    /// book-runner-svc comes here: operations are one at a time, and deployment-svc owns them).
    /// The book and the snapshot are read anew. Returns the new job.
    pub async fn retry(
        &self,
        failed_operation: &str,
        failed_job: &str,
        resume_from_failed_step: bool,
        actor: &str,
        request_id: Option<&str>,
    ) -> Result<pb::Job, DeploymentError> {
        let old = operations::get(&self.db, failed_operation)
            .await?
            .ok_or_else(|| DeploymentError::not_found("operation", failed_operation))?;
        let name = DeploymentName::parse("deployment", &old.deployment)
            .map_err(|violation| DeploymentError::Invalid(vec![violation]))?;
        let runner = self.runner(&name)?;
        if old.status != crate::domain::operation::OperationStatus::Failed {
            return Err(DeploymentError::FailedPrecondition {
                reason: "OPERATION_NOT_FAILED",
                subject: old.name.clone(),
                message: format!(
                    "only a failed operation can be retried; {} is {}",
                    old.name,
                    old.status.as_str()
                ),
            });
        }
        let deployment = find_deployment(&self.db, &old.deployment)
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment", old.deployment.clone()))?;
        let scope = self.scope_of(&deployment).await?;
        let retry = operations::Retry {
            operation: old.name.clone(),
            job: failed_job.to_owned(),
            phases: old.phases[old.phase_index..].to_vec(),
            resume_job: resume_from_failed_step.then(|| failed_job.to_owned()),
        };
        let (operation, created) = operations::start(
            &self.db,
            &old.deployment,
            old.action,
            scope.allow_drop,
            actor,
            request_id,
            Some(retry),
            None,
            eyrie_platform::trace_context::current_traceparent(),
            now(),
        )
        .await?;
        if created {
            self.changes.publish(&operation.deployment).await;
        }
        if !created && let Some(job) = operation.current_job() {
            // A retried RetryJob: the job it started first (read it with GetJob for the rest).
            return Ok(pb::Job {
                name: job.to_owned(),
                operation: operation.name.clone(),
                deployment: operation.deployment.clone(),
                ..Default::default()
            });
        }
        self.start_phase(&runner, &operation)
            .await
            .map_err(|not_started| not_started.into_error(&operation.name))
    }

    /// Everything the books' templates may read of the deployment named `name`, read anew.
    pub async fn context(&self, name: &str) -> Result<DeploymentContext, DeploymentError> {
        let deployment = find_deployment(&self.db, name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("deployment", name))?;
        let group = self.group_of(&deployment).await?;
        let project_name = format!("projects/{}", deployment.name.project);
        let project = find_project(&self.db, &project_name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("project", &project_name))?;
        let scope = self.scope_of(&deployment).await?;
        let clusters = find_clusters(&self.db, &deployment.key_fields.clusters).await?;
        let project_namespaces =
            project_namespaces(&self.db, &project_name, &deployment.name).await?;
        Ok(DeploymentContext {
            deployment,
            project,
            group,
            scope,
            clusters,
            project_namespaces,
        })
    }

    /// Applies a job outcome (from the runner's report or the reconciler). Idempotent.
    pub async fn job_ended(&self, outcome: &JobOutcome) -> Result<(), DeploymentError> {
        let end = match outcome.status() {
            pb::JobStatus::Succeeded => JobEnd::Succeeded,
            pb::JobStatus::Failed => JobEnd::Failed(&outcome.message),
            pb::JobStatus::Cancelled => JobEnd::Cancelled(&outcome.message),
            // Not an end: the job still runs.
            _ => return Ok(()),
        };
        let event = Event::JobEnded {
            job: &outcome.job,
            end,
        };
        let applied = operations::apply_event(&self.db, &outcome.operation, &event, now()).await?;
        self.after(&applied).await;
        self.start_next(&applied);
        Ok(())
    }

    /// One pass of the reconciler: starts missing jobs and applies outcomes that were not reported.
    /// An operation that cannot be moved on is left for the next pass without holding up the
    /// others; the outcomes of all running jobs are asked for in a few calls, not one each.
    pub async fn reconcile(&self) -> Result<(), DeploymentError> {
        let Some(runner) = &self.runner else {
            return Ok(());
        };
        let mut jobs = Vec::new();
        let running = operations::running(&self.db).await?;
        let names: Vec<String> = running.iter().map(|op| op.deployment.clone()).collect();
        let states = deployment_states(&self.db, &names).await?;
        for operation in running {
            let Some(state) = states.get(&operation.deployment) else {
                continue;
            };
            let decision = decide(*state, Some(&operation.view()), &Event::Reconcile);
            let effects = match decision {
                Decision::Apply(transition) => transition.effects,
                Decision::Unexpected(_) => {
                    // Recorded on the operation by the same machine, once.
                    let applied = operations::apply_event(
                        &self.db,
                        &operation.name,
                        &Event::Reconcile,
                        now(),
                    )
                    .await?;
                    // `after` logs it.
                    self.after(&applied).await;
                    continue;
                }
                Decision::Repeat | Decision::Later | Decision::Refused(_) => continue,
            };
            for effect in effects {
                match effect {
                    Effect::StartJob => self.starter.notify_one(),
                    Effect::AskOutcome => jobs.extend(operation.current_job().map(str::to_owned)),
                    Effect::Publish => self.changes.publish(&operation.deployment).await,
                }
            }
        }
        for batch in jobs.chunks(OUTCOMES_PER_CALL) {
            for outcome in runner.jobs.outcomes(batch).await? {
                if let Err(err) = self.job_ended(&outcome).await {
                    tracing::warn!(job = %outcome.job, error = %err, "reconciler: outcome not applied; will retry");
                }
            }
        }
        Ok(())
    }

    /// Runs the reconciler every `interval` until `shutdown`.
    pub async fn run_reconciler(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(err) = self.reconcile().await {
                tracing::warn!(error = %err, "reconciliation pass failed");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// The operation named `name`.
    pub async fn operation(&self, name: &str) -> Result<Operation, DeploymentError> {
        operations::get(&self.db, name)
            .await?
            .ok_or_else(|| DeploymentError::not_found("operation", name))
    }

    /// A page of a deployment's operations, newest first.
    pub async fn operations(
        &self,
        deployment: &DeploymentName,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        operations::list(&self.db, &deployment.to_string(), before, limit).await
    }
}

#[cfg(test)]
mod tests;
