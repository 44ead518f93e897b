//! A rollout stops runner replicas with SIGTERM: a replica that stops hands its running jobs
//! back at once (after its grace), so another one takes them over long before their leases
//! would have expired, and runs the interrupted step again.

use std::time::Duration;

use eyrie_book_runner_svc::{BookRunnerSvc, Settings, config::RunnerSettings};
use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::{
    internal::v1::job_runner_client::JobRunnerClient,
    v1::{GetJobRequest, JobStatus, job_service_client::JobServiceClient},
};

use crate::harness::{collect_events, start_request};

/// Waits for a Service that only the test creates, once the job has changed hands.
const GATED_BOOK: &str = r#"
name: gated
type: none
steps:
  - name: Wait for the gate
    uses: k8s.wait
    with:
      api_version: v1
      kind: Service
      name: "{{ deployment.slug ~ '-gate' }}"
      namespace: "{{ namespace }}"
      condition: exists
    timeout: 10m
"#;

/// Far longer than the test waits: a job taken over before this was handed back.
const LEASE: Duration = Duration::from_secs(600);

fn settings(database: &DatabaseSettings, root: &std::path::Path) -> Settings {
    Settings {
        server: ServerSettings {
            drain_timeout: Duration::from_millis(200),
            ..ServerSettings::loopback_any_port()
        },
        database: database.clone(),
        runner: RunnerSettings {
            workers: 1,
            lease_ttl: LEASE,
            poll_interval: Duration::from_millis(100),
            cancel_check_interval: Duration::from_millis(100),
            shutdown_grace: Duration::from_millis(300),
            directory_root: root.to_path_buf(),
            ..RunnerSettings::default()
        },
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_stopped_runner_hands_its_running_job_to_another_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let databases = crate::harness::databases(&dir);
    for database in databases {
        let backend = eyrie_platform::testing::describe(&database);
        let root = tempfile::tempdir().unwrap();
        let first = TestServer::start::<BookRunnerSvc>(settings(&database, root.path()))
            .await
            .unwrap();
        let book = crate::harness::add_book_to(&database, GATED_BOOK).await;
        let mut runner = JobRunnerClient::new(first.channel().await.unwrap());
        let job = runner
            .start_job(start_request(&book, "rollout-1", "none", &[]))
            .await
            .unwrap()
            .into_inner();
        let mut jobs = JobServiceClient::new(first.channel().await.unwrap());
        // The first replica runs the step: it waits for the gate.
        crate::harness::until_status(&mut jobs, &job.name, JobStatus::Running).await;

        // SIGTERM: the job cannot end within the grace, so it is handed back.
        first.stop().await.unwrap();
        let second = TestServer::start::<BookRunnerSvc>(settings(&database, root.path()))
            .await
            .unwrap();
        let mut jobs = JobServiceClient::new(second.channel().await.unwrap());
        let gate = root.path().join("c1/acme-shop/service/shop-gate.yaml");
        std::fs::create_dir_all(gate.parent().unwrap()).unwrap();
        std::fs::write(
            &gate,
            "apiVersion: v1\nkind: Service\nmetadata: {name: shop-gate, namespace: acme-shop}\n",
        )
        .unwrap();

        // Bounded (a minute) well under the lease: only a handed-back job ends in time.
        let events = collect_events(jobs.clone(), &job.name, 0).await;
        assert!(!events.is_empty(), "{backend}");
        let ended = jobs
            .get_job(GetJobRequest {
                name: job.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ended.status(), JobStatus::Succeeded, "{backend}: {ended:?}");
        assert_eq!(
            ended.steps[0].attempts, 2,
            "{backend}: the second replica ran the interrupted step again"
        );
        second.stop().await.unwrap();
    }
}
