//! The lifecycle's use cases with fake peers in place of book-runner-svc: no network, and the
//! runner answers exactly what each test asks of it.

use std::sync::{Arc, Mutex};

use eyrie_platform::{changes::Changes, names::DeploymentName};
use eyrie_proto::{internal::v1::JobOutcome, v1 as pb};

use super::{Lifecycle, Runner};
use crate::{
    domain::{
        DeploymentError,
        operation::{Operation, OperationStatus},
        requirements::{CatalogBook, RequiredParameter},
        resources::DeploymentState,
        state::Action,
    },
    service::peers::{BookCatalog, DeploymentContext, JobRunner, StartRefused},
    store::{
        resources::{ResourceStore, find_deployment},
        tests::{databases, meta, new_deployment, project},
    },
};

/// What the fake runner answers to the next StartJob.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Start,
    Unreachable,
    Refuse,
}

/// Records each StartJob (book, deployment of the snapshot) and answers as told.
struct FakeRunner {
    answer: Mutex<Answer>,
    started: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl JobRunner for FakeRunner {
    async fn start_job(
        &self,
        operation: &Operation,
        book: &str,
        context: &DeploymentContext,
    ) -> Result<pb::Job, StartRefused> {
        match *self.answer.lock().unwrap() {
            Answer::Unreachable => Err(StartRefused::Transient(DeploymentError::Unavailable(
                "book-runner-svc".into(),
            ))),
            Answer::Refuse => Err(StartRefused::Permanent("the book is broken".into())),
            Answer::Start => {
                let mut started = self.started.lock().unwrap();
                started.push((book.to_owned(), context.deployment.name.to_string()));
                Ok(pb::Job {
                    name: format!("{}/jobs/j{}", operation.deployment, started.len()),
                    operation: operation.name.clone(),
                    ..Default::default()
                })
            }
        }
    }

    async fn outcomes(&self, _jobs: &[String]) -> Result<Vec<JobOutcome>, DeploymentError> {
        Ok(Vec::new())
    }
}

/// Every book requires the parameters it was given, whatever its name.
#[derive(Debug)]
struct FakeCatalog(Vec<&'static str>);

#[async_trait::async_trait]
impl BookCatalog for FakeCatalog {
    async fn book(&self, _name: &str) -> Result<Option<CatalogBook>, DeploymentError> {
        Ok(Some(CatalogBook {
            deployment_type: "none".into(),
            required: self
                .0
                .iter()
                .map(|name| RequiredParameter {
                    name: (*name).to_owned(),
                    description: String::new(),
                })
                .collect(),
        }))
    }
}

struct Fixture {
    db: sea_orm::DatabaseConnection,
    runner: Arc<FakeRunner>,
    lifecycle: Lifecycle,
    shop: DeploymentName,
}

/// A draft deployment `projects/acme/groups/web/deployments/shop` on each test database, and a
/// lifecycle whose runner answers `answer` and whose books require `required`.
async fn fixtures(answer: Answer, required: Vec<&'static str>) -> Vec<(&'static str, Fixture)> {
    let mut fixtures = Vec::new();
    for (backend, db) in databases().await {
        let store = ResourceStore::new(db.clone());
        project(&store, "acme").await;
        let new = new_deployment("acme");
        store.create_deployment(&new, &meta("")).await.unwrap();
        let runner = Arc::new(FakeRunner {
            answer: Mutex::new(answer),
            started: Mutex::default(),
        });
        let peers = Runner {
            jobs: runner.clone(),
            books: Arc::new(FakeCatalog(required.clone())),
        };
        let lifecycle = Lifecycle::new(db.clone(), Some(peers), None, Changes::local());
        let fixture = Fixture {
            db,
            runner,
            lifecycle,
            shop: new.name,
        };
        fixtures.push((backend, fixture));
    }
    fixtures
}

impl Fixture {
    async fn deploy(&self) -> Operation {
        self.lifecycle
            .act(&self.shop, Action::Deploy, "tokens/test", None, None)
            .await
            .unwrap()
    }

    async fn state(&self) -> DeploymentState {
        find_deployment(&self.db, &self.shop.to_string())
            .await
            .unwrap()
            .unwrap()
            .state
    }

    async fn succeed(&self, job: &str, operation: &str) {
        let outcome = JobOutcome {
            job: job.to_owned(),
            operation: operation.to_owned(),
            status: pb::JobStatus::Succeeded.into(),
            ..Default::default()
        };
        self.lifecycle.job_ended(&outcome).await.unwrap();
    }
}

#[tokio::test]
async fn a_deploy_from_draft_runs_the_initialize_then_the_deploy_book_and_ends_deployed() {
    for (backend, fx) in fixtures(Answer::Start, vec![]).await {
        let operation = fx.deploy().await;
        assert!(
            fx.runner.started.lock().unwrap().is_empty(),
            "{backend}: no job before the starter runs"
        );

        fx.lifecycle.start_pending().await.unwrap();
        let first = fx.lifecycle.operation(&operation.name).await.unwrap();
        let job = first
            .current_job()
            .expect("the initialize job is recorded")
            .to_owned();
        fx.succeed(&job, &operation.name).await;

        fx.lifecycle.start_pending().await.unwrap();
        let second = fx.lifecycle.operation(&operation.name).await.unwrap();
        let job = second
            .current_job()
            .expect("the deploy job is recorded")
            .to_owned();
        fx.succeed(&job, &operation.name).await;

        let books: Vec<String> = fx
            .runner
            .started
            .lock()
            .unwrap()
            .iter()
            .map(|(book, _)| book.clone())
            .collect();
        assert_eq!(
            books,
            ["books/none-initialize", "books/none-deploy"],
            "{backend}"
        );
        assert!(
            fx.runner
                .started
                .lock()
                .unwrap()
                .iter()
                .all(|(_, of)| *of == fx.shop.to_string()),
            "{backend}: each snapshot is the deployment's"
        );
        let ended = fx.lifecycle.operation(&operation.name).await.unwrap();
        assert_eq!(ended.status, OperationStatus::Succeeded, "{backend}");
        assert_eq!(fx.state().await, DeploymentState::Deploy, "{backend}");
    }
}

#[tokio::test]
async fn an_unreachable_runner_leaves_the_phase_waiting_and_a_refusal_ends_the_operation_failed() {
    for (backend, fx) in fixtures(Answer::Unreachable, vec![]).await {
        let operation = fx.deploy().await;
        fx.lifecycle.start_pending().await.unwrap();
        let waiting = fx.lifecycle.operation(&operation.name).await.unwrap();
        assert_eq!(waiting.status, OperationStatus::Running, "{backend}");
        assert_eq!(
            waiting.current_job(),
            None,
            "{backend}: no job yet, the next pass tries again"
        );

        *fx.runner.answer.lock().unwrap() = Answer::Refuse;
        fx.lifecycle.start_pending().await.unwrap();
        let failed = fx.lifecycle.operation(&operation.name).await.unwrap();
        assert_eq!(failed.status, OperationStatus::Failed, "{backend}");
        assert_eq!(
            failed.message,
            "the initialize book books/none-initialize could not start: the book is broken",
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_deploy_lacking_parameters_names_them_all_and_writes_nothing() {
    for (backend, fx) in fixtures(Answer::Start, vec!["db", "host"]).await {
        let refused = fx
            .lifecycle
            .act(&fx.shop, Action::Deploy, "tokens/test", None, None)
            .await
            .unwrap_err();
        let DeploymentError::MissingParameters { violations, .. } = refused else {
            panic!("{backend}: {refused:?}");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["deployment.parameters.db", "deployment.parameters.host"],
            "{backend}"
        );
        assert!(
            fx.lifecycle
                .operations(&fx.shop, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        assert_eq!(fx.state().await, DeploymentState::Draft, "{backend}");
    }
}
