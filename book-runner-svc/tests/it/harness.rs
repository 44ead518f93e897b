//! Starting book-runner-svc for a test, with a directory cluster and books of the test's own.

use std::{path::PathBuf, time::Duration};

use eyrie_book_runner_svc::{
    BookRunnerSvc, Settings,
    config::RunnerSettings,
    domain::{
        book::{BookFormat, BookSpec},
        books::{BookName, NewBook},
    },
    store::{books::SeaBookStore, migration::Migrator},
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{SAMPLE_DEPLOYMENT, TestServer, sample_deployment_snapshot},
};
use eyrie_proto::{
    internal::v1::{StartJobRequest, job_runner_client::JobRunnerClient},
    v1::{
        self as pb, BookPhase, Job, JobStatus, OperationAction, WatchJobRequest,
        job_service_client::JobServiceClient, watch_job_response,
    },
};
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

/// The deployment every test job runs for.
pub const DEPLOYMENT: &str = SAMPLE_DEPLOYMENT;

/// A runner with its cluster folder and clients.
pub struct Runner {
    /// Kept alive for the test; dropping it stops the service.
    pub _server: TestServer,
    pub runner: JobRunnerClient<Channel>,
    pub jobs: JobServiceClient<Channel>,
    pub books: SeaBookStore,
    /// Root of the `directory` cluster `c1`.
    pub cluster: PathBuf,
    /// Whether jobs started by the tests' helpers name `c1` as a simulated cluster, on which the
    /// runner plays the controllers itself.
    pub simulated: bool,
    _dir: tempfile::TempDir,
}

/// Starts the runner on `database` with short leases and polls.
pub async fn start(database: DatabaseSettings, dir: tempfile::TempDir) -> Runner {
    let settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: database.clone(),
        runner: RunnerSettings {
            workers: 2,
            lease_ttl: Duration::from_secs(2),
            poll_interval: Duration::from_millis(100),
            cancel_check_interval: Duration::from_millis(100),
            heartbeat_interval: Duration::from_millis(500),
            directory_root: dir.path().to_path_buf(),
            simulated_pass_interval: Duration::from_millis(30),
            ..RunnerSettings::default()
        },
        ..Settings::default()
    };
    let server = TestServer::start::<BookRunnerSvc>(settings).await.unwrap();
    let channel = server.channel().await.unwrap();
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&database)
        .await
        .unwrap();
    Runner {
        _server: server,
        runner: JobRunnerClient::new(channel.clone()),
        jobs: JobServiceClient::new(channel),
        books: SeaBookStore::new(db),
        cluster: dir.path().join("c1"),
        simulated: false,
        _dir: dir,
    }
}

/// SQLite in a file under `dir` (so that a test may open a connection of its own to it) and,
/// when `EYRIE_TEST_DATABASE_URL` is set, PostgreSQL.
pub fn databases(dir: &tempfile::TempDir) -> Vec<DatabaseSettings> {
    let mut databases = vec![DatabaseSettings::with_url(format!(
        "sqlite://{}/runner.sqlite?mode=rwc",
        dir.path().display()
    ))];
    databases.extend(eyrie_platform::testing::postgres_test_database());
    databases
}

/// A runner on every database to test on: SQLite (a file, so the test can open it too) and
/// PostgreSQL when `EYRIE_TEST_DATABASE_URL` is set.
pub async fn each_runner() -> Vec<(&'static str, Runner)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = DatabaseSettings::with_url(format!(
        "sqlite://{}/runner.sqlite?mode=rwc",
        dir.path().display()
    ));
    let mut runners = vec![("sqlite", start(sqlite, dir).await)];
    if let Some(postgres) = eyrie_platform::testing::postgres_test_database() {
        runners.push((
            "postgres",
            start(postgres, tempfile::tempdir().unwrap()).await,
        ));
    }
    runners
}

impl Runner {
    /// Stores a global book written in YAML; returns its name.
    pub async fn add_book(&self, yaml: &str) -> String {
        create_book(&self.books, yaml).await
    }
    /// Starts `book` for the test deployment.
    pub async fn start_job(&mut self, book: &str, request_id: &str) -> Job {
        self.runner
            .start_job(start_request(book, request_id, "none", &[]))
            .await
            .unwrap()
            .into_inner()
    }

    /// Every event of `job` from `after`, until the stream ends.
    pub async fn watch_all(&mut self, job: &str, after: u64) -> Vec<pb::JobEvent> {
        collect_events(self.jobs.clone(), job, after).await
    }

    /// Texts of the first page of step `step_index`'s log in `job`.
    pub async fn step_log(&mut self, job: &str, step_index: u32) -> Vec<String> {
        self.jobs
            .get_job_step_log(pb::GetJobStepLogRequest {
                job: job.to_owned(),
                step_index,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .lines
            .into_iter()
            .map(|line| line.text)
            .collect()
    }

    /// Waits for the end of `job` and returns it.
    pub async fn finished(&mut self, job: &str) -> Job {
        let events = self.watch_all(job, 0).await;
        assert!(
            matches!(
                events.last().and_then(|e| e.kind.as_ref()),
                Some(pb::job_event::Kind::JobEnded(_))
            ),
            "the stream ended before the job: {events:?}"
        );
        self.jobs
            .get_job(pb::GetJobRequest {
                name: job.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

/// Every event of `job` after `after` until its stream ends (bounded so a hang fails the test).
pub async fn collect_events(
    mut jobs: JobServiceClient<Channel>,
    job: &str,
    after: u64,
) -> Vec<pb::JobEvent> {
    let mut stream = jobs
        .watch_job(WatchJobRequest {
            name: job.to_owned(),
            after_sequence: after,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    let collect = async {
        while let Some(message) = stream.next().await {
            if let Some(watch_job_response::Kind::Event(event)) = message.unwrap().kind {
                events.push(event);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the job did not end within a minute");
    events
}

/// A StartJob for the test deployment on cluster `c1`, of `deployment_type`, with `parameters`.
pub fn start_request(
    book: &str,
    request_id: &str,
    deployment_type: &str,
    parameters: &[(&str, &str)],
) -> StartJobRequest {
    StartJobRequest {
        request_id: request_id.to_owned(),
        snapshot: Some(sample_deployment_snapshot(
            deployment_type,
            "c1",
            parameters,
        )),
        action: OperationAction::Deploy.into(),
        phase: BookPhase::Deploy.into(),
        book: book.to_owned(),
        operation: format!("{DEPLOYMENT}/operations/{request_id}"),
        actor: "tokens/admin".into(),
        retry_of: String::new(),
        resume_from_failed_step: false,
    }
}

/// Stores a global book written in YAML in the runner database `database`; returns its name.
pub async fn add_book_to(database: &DatabaseSettings, yaml: &str) -> String {
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(database)
        .await
        .unwrap();
    create_book(&SeaBookStore::new(db), yaml).await
}

/// Stores a global book written in YAML in `books`; returns its name.
async fn create_book(books: &SeaBookStore, yaml: &str) -> String {
    let spec = BookSpec::parse(BookFormat::Yaml, yaml).unwrap();
    let name = BookName::global(spec.name.clone());
    books
        .create(&NewBook { name, spec })
        .await
        .unwrap()
        .name
        .to_string()
}

/// Waits (a minute at most) until `job` has `status`.
pub async fn until_status(jobs: &mut JobServiceClient<Channel>, job: &str, status: JobStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = jobs
            .get_job(pb::GetJobRequest {
                name: job.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        if now.status() == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{job} never became {status:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sequence numbers of `events`.
pub fn sequences(events: &[pb::JobEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

/// The final status carried by the last event.
pub fn final_status(events: &[pb::JobEvent]) -> Option<JobStatus> {
    match events.last()?.kind.as_ref()? {
        pb::job_event::Kind::JobEnded(ended) => Some(ended.status()),
        _ => None,
    }
}
