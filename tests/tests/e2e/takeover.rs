//! A job whose runner is killed (SIGKILL) mid-step is finished by a restarted runner: the
//! interrupted step runs again, every other step runs once.

use std::time::Duration;

use eyrie_platform::testing::sample_deployment_snapshot;
use eyrie_proto::{
    internal::v1::{StartJobRequest, job_runner_client::JobRunnerClient},
    v1::{
        self as pb, BookPhase, GetJobRequest, JobStatus, OperationAction, StepStatus,
        WatchJobRequest, job_service_client::JobServiceClient,
    },
};
use eyrie_tests::{ServiceConfig, ServiceProcess};
use tokio_stream::StreamExt as _;

/// Waits until the job's stream says a step is waiting for the Deployment.
async fn until_waiting(jobs: &mut JobServiceClient<tonic::transport::Channel>, job: &str) {
    let mut stream = jobs
        .watch_job(WatchJobRequest {
            name: job.to_owned(),
            after_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.next().await {
        if let Some(pb::watch_job_response::Kind::Event(event)) = message.unwrap().kind
            && let Some(pb::job_event::Kind::StepLog(log)) = event.kind
            && log
                .line
                .starts_with("waiting for Deployment acme-shop/shop")
        {
            return;
        }
    }
    panic!("the job ended before waiting");
}

#[tokio::test]
async fn a_job_survives_the_sigkill_of_its_runner() {
    let data = tempfile::tempdir().unwrap();
    let runner_settings = format!(
        "[runner]\nlease_ttl = \"2s\"\npoll_interval = \"100ms\"\ndirectory_root = \"{}\"",
        data.path().display()
    );
    // Both runner processes share the database (and the cluster folder).
    let config = ServiceConfig::for_service("book-runner-svc", data.path(), &runner_settings);
    let mut first = ServiceProcess::start("book-runner-svc", config.clone())
        .await
        .unwrap();

    let mut runner = JobRunnerClient::new(first.channel().await.unwrap());
    let job = runner
        .start_job(StartJobRequest {
            request_id: "takeover-1".into(),
            snapshot: Some(sample_deployment_snapshot("none", "c1", &[])),
            action: OperationAction::Deploy.into(),
            phase: BookPhase::Deploy.into(),
            book: "books/none-deploy".into(),
            operation: "projects/acme/groups/web/deployments/shop/operations/1".into(),
            actor: "tokens/admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut jobs = JobServiceClient::new(first.channel().await.unwrap());
    tokio::time::timeout(Duration::from_secs(30), until_waiting(&mut jobs, &job.name))
        .await
        .expect("the job never reached its wait");

    first.kill().await.unwrap();

    // Play the Deployment controller: the rollout of the current generation is done, as
    // `kubectl rollout status` reads it.
    let path = data.path().join("c1/acme-shop/deployment/shop.yaml");
    let mut manifest: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let generation = manifest["metadata"]["generation"].as_i64().unwrap();
    let replicas = manifest["spec"]["replicas"].as_i64().unwrap_or(1);
    manifest["status"] = serde_json::json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    });
    std::fs::write(&path, serde_saphyr::to_string(&manifest).unwrap()).unwrap();

    let second = ServiceProcess::start("book-runner-svc", config)
        .await
        .unwrap();
    let mut jobs = JobServiceClient::new(second.channel().await.unwrap());
    let mut stream = jobs
        .watch_job(WatchJobRequest {
            name: job.name.clone(),
            after_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut takeovers = 0;
    let collect = async {
        while let Some(message) = stream.next().await {
            if let Some(pb::watch_job_response::Kind::Event(event)) = message.unwrap().kind
                && let Some(pb::job_event::Kind::JobStarted(started)) = event.kind
                && started.takeover
            {
                takeovers += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the job was not finished");
    assert_eq!(takeovers, 1, "the restarted runner took the job over once");

    let done = jobs
        .get_job(GetJobRequest {
            name: job.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status(), JobStatus::Succeeded, "{}", done.message);
    let attempts: Vec<(String, u32)> = done
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.attempts))
        .collect();
    let waiting = done
        .steps
        .iter()
        .position(|s| s.uses == "k8s.wait")
        .expect("a wait step");
    for (index, step) in done.steps.iter().enumerate() {
        assert_eq!(step.status(), StepStatus::Succeeded, "{attempts:?}");
        let expected = if index == waiting { 2 } else { 1 };
        assert_eq!(step.attempts, expected, "step {index}: {attempts:?}");
    }
}
