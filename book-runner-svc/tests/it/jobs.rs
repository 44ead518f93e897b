//! Jobs run their books on the directory cluster: steps, retries, timeouts, cancellation,
//! idempotent requests and redaction of secrets.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use eyrie_proto::v1::{self as pb, CancelJobRequest, JobStatus, StepStatus};

use crate::harness::{Runner, each_runner, final_status, sequences, start_request};

const APPLY_BOOK: &str = r#"
name: web-apply
type: none
parameters:
  - {name: port, default: "8080"}
steps:
  - name: Create the namespace and the service
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{ namespace }}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: {{ deployment.slug }}, namespace: {{ namespace }}}
        spec: {ports: [{port: {{ deployment.parameters.port | int }}}]}
  - name: Wait for the service
    uses: k8s.wait
    with: {api_version: v1, kind: Service, name: "{{ deployment.slug }}", namespace: "{{ namespace }}", condition: exists}
"#;

#[tokio::test]
async fn a_book_runs_its_steps_and_leaves_its_objects_in_the_cluster() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        let job = runner.start_job(&book, "apply-1").await;
        assert_eq!(job.status(), JobStatus::Queued, "{backend}");
        assert!(
            job.name
                .starts_with(&format!("{}/jobs/", crate::harness::DEPLOYMENT)),
            "{backend}: {}",
            job.name
        );

        let events = runner.watch_all(&job.name, 0).await;
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        assert_eq!(
            sequences(&events),
            expected,
            "{backend}: sequence numbers are dense from 1"
        );
        assert_eq!(
            final_status(&events),
            Some(JobStatus::Succeeded),
            "{backend}: {events:?}"
        );

        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Succeeded, "{backend}");
        assert!(
            done.steps
                .iter()
                .all(|s| s.status() == StepStatus::Succeeded && s.attempts == 1),
            "{backend}"
        );
        let service =
            std::fs::read_to_string(runner.cluster.join("acme-shop/service/shop.yaml")).unwrap();
        assert!(service.contains("port: 8080"), "{backend}: {service}");
        assert!(
            runner
                .cluster
                .join("_cluster/namespace/acme-shop.yaml")
                .exists(),
            "{backend}"
        );

        assert_eq!(
            runner.step_log(&job.name, 0).await,
            [
                "Namespace acme-shop created",
                "Service acme-shop/shop created"
            ],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_second_run_changes_no_file_and_a_retried_request_starts_nothing() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        let first = runner.start_job(&book, "deploy-1").await;
        runner.finished(&first.name).await;
        let path = runner.cluster.join("acme-shop/service/shop.yaml");
        let before = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap().modified().unwrap(),
        );

        let again = runner.start_job(&book, "deploy-1").await;
        assert_eq!(
            again.name, first.name,
            "{backend}: the same request id returns the same job"
        );

        let second = runner.start_job(&book, "deploy-2").await;
        assert_ne!(second.name, first.name, "{backend}");
        runner.finished(&second.name).await;
        let after = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap().modified().unwrap(),
        );
        assert_eq!(
            before, after,
            "{backend}: a second deploy rewrote the manifest"
        );

        // Exact lines: `all(ends_with("unchanged"))` alone would pass on an empty log.
        assert_eq!(
            runner.step_log(&second.name, 0).await,
            [
                "Namespace acme-shop unchanged",
                "Service acme-shop/shop unchanged"
            ],
            "{backend}"
        );
    }
}

/// Request ids are scoped to their deployment (issue 15, part 5): an id another deployment's job
/// holds, maybe another tenant's, never returns that job.
#[tokio::test]
async fn a_request_id_held_by_another_deployments_job_never_returns_that_job() {
    const BETA: &str = "projects/beta/groups/web/deployments/shop";
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        let first = runner.start_job(&book, "deploy-1").await;

        let mut elsewhere = start_request(&book, "deploy-1", "none", &[]);
        elsewhere.operation = format!("{BETA}/operations/deploy-1");
        let snapshot = elsewhere.snapshot.as_mut().unwrap();
        let deployment = snapshot.deployment.as_mut().unwrap();
        deployment.name = BETA.into();
        let project = snapshot.project.as_mut().unwrap();
        project.name = "projects/beta".into();
        project.slug = "beta".into();
        let refused = runner.runner.start_job(elsewhere).await.unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::InvalidArgument,
            "{backend}: {refused:?}"
        );
        assert!(
            refused.message().contains("request_id") && !refused.message().contains("acme"),
            "{backend}: names the field, not the other deployment: {}",
            refused.message()
        );
        let beta_jobs = runner
            .jobs
            .list_jobs(pb::ListJobsRequest {
                parent: BETA.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .jobs;
        assert!(beta_jobs.is_empty(), "{backend}: {beta_jobs:?}");

        let again = runner.start_job(&book, "deploy-1").await;
        assert_eq!(
            again.name, first.name,
            "{backend}: acme's replay still finds its job"
        );
    }
}

#[tokio::test]
async fn a_step_that_times_out_fails_the_job_naming_the_step_and_the_timeout() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: never-ready
type: none
steps:
  - name: Wait for a deployment nobody runs
    uses: k8s.wait
    with: {api_version: apps/v1, kind: Deployment, name: ghost, namespace: "{{ namespace }}", condition: available}
    timeout: 1s
  - name: Never reached
    uses: k8s.delete
    with: {api_version: v1, kind: Service, name: ghost, namespace: "{{ namespace }}"}
"#,
            )
            .await;
        let job = runner.start_job(&book, "timeout-1").await;
        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Failed, "{backend}");
        assert_eq!(
            done.message, "step 1 (Wait for a deployment nobody runs) failed: timed out after 1s",
            "{backend}"
        );
        assert_eq!(done.steps[0].status(), StepStatus::Failed, "{backend}");
        assert_eq!(done.steps[1].status(), StepStatus::Skipped, "{backend}");
    }
}

#[tokio::test]
async fn a_cluster_that_cannot_be_reached_fails_the_step_the_claim_started() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        // A directory cluster without a path: no driver can be had for it.
        let request = eyrie_proto::internal::v1::StartJobRequest {
            snapshot: Some(eyrie_platform::testing::sample_deployment_snapshot(
                "none",
                "",
                &[],
            )),
            ..start_request(&book, "unreachable-1", "none", &[])
        };
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        let kinds: Vec<_> = events
            .iter()
            .filter_map(|e| match e.kind.as_ref()? {
                pb::job_event::Kind::JobStarted(_) => Some("job started".to_owned()),
                pb::job_event::Kind::StepStarted(s) => {
                    Some(format!("step {} started {}", s.step_index, s.attempt))
                }
                pb::job_event::Kind::StepFailed(f) => {
                    Some(format!("step {} failed: {}", f.step_index, f.error))
                }
                pb::job_event::Kind::StepSkipped(s) => {
                    Some(format!("step {} skipped", s.step_index))
                }
                pb::job_event::Kind::JobEnded(_) => Some("job ended".to_owned()),
                _ => None,
            })
            .collect();
        let error = "cluster projects/acme/clusters/c1: the directory path is empty";
        assert_eq!(
            kinds,
            [
                "job started".to_owned(),
                "step 0 started 1".to_owned(),
                format!("step 0 failed: {error}"),
                "step 1 skipped".to_owned(),
                "job ended".to_owned(),
            ],
            "{backend}"
        );
        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Failed, "{backend}");
        assert_eq!(done.message, error, "{backend}");
        assert_eq!(done.steps[0].status(), StepStatus::Failed, "{backend}");
        assert_eq!(done.steps[0].message, error, "{backend}");
        assert_eq!(done.steps[1].status(), StepStatus::Skipped, "{backend}");
    }
}

#[tokio::test]
async fn a_failing_step_is_retried_with_backoff_before_the_job_fails() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: patch-missing
type: none
steps:
  - name: Scale a deployment that does not exist
    uses: k8s.patch
    with: {api_version: apps/v1, kind: Deployment, name: ghost, namespace: "{{ namespace }}", patch: '{"spec": {"replicas": 0}}'}
    retries: 1
"#,
            )
            .await;
        let job = runner.start_job(&book, "retry-1").await;
        let events = runner.watch_all(&job.name, 0).await;
        let kinds: Vec<_> = events
            .iter()
            .filter_map(|e| match e.kind.as_ref()? {
                pb::job_event::Kind::StepStarted(s) => Some(format!("started {}", s.attempt)),
                pb::job_event::Kind::StepRetrying(r) => Some(format!(
                    "retrying after {}s: {}",
                    r.backoff.unwrap().seconds,
                    r.error
                )),
                pb::job_event::Kind::StepFailed(f) => Some(format!("failed: {}", f.error)),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "started 1",
                "retrying after 1s: Deployment acme-shop/ghost not found",
                "started 2",
                "failed: Deployment acme-shop/ghost not found"
            ],
            "{backend}"
        );
        let done = runner.finished(&job.name).await;
        assert_eq!(done.steps[0].attempts, 2, "{backend}");
    }
}

#[tokio::test]
async fn cancelling_a_waiting_step_ends_the_job_cancelled_and_cancel_is_idempotent() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: long-wait
type: none
steps:
  - name: Wait a long time
    uses: k8s.wait
    with: {api_version: apps/v1, kind: Deployment, name: ghost, namespace: "{{ namespace }}", condition: available}
    timeout: 10m
"#,
            )
            .await;
        let job = runner.start_job(&book, "cancel-1").await;
        // Cancel once the step is waiting.
        let events = runner.jobs.clone();
        let mut stream = events
            .clone()
            .watch_job(pb::WatchJobRequest {
                name: job.name.clone(),
                after_sequence: 0,
            })
            .await
            .unwrap()
            .into_inner();
        use tokio_stream::StreamExt as _;
        while let Some(message) = stream.next().await {
            if let Some(pb::watch_job_response::Kind::Event(event)) = message.unwrap().kind
                && matches!(event.kind, Some(pb::job_event::Kind::StepLog(_)))
            {
                break;
            }
        }
        runner
            .jobs
            .cancel_job(CancelJobRequest {
                name: job.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        // A hang would fail here; the interruption itself is prompt (the worker is signalled).
        let done = tokio::time::timeout(Duration::from_secs(10), runner.finished(&job.name))
            .await
            .expect("cancelled job did not end");
        assert_eq!(done.status(), JobStatus::Cancelled, "{backend}");
        assert_eq!(done.message, "cancelled", "{backend}");

        let again = runner
            .jobs
            .cancel_job(CancelJobRequest {
                name: job.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            again.status(),
            JobStatus::Cancelled,
            "{backend}: cancel of an ended job returns it"
        );
        assert_eq!(
            again.last_sequence, done.last_sequence,
            "{backend}: and changes nothing"
        );
    }
}

#[tokio::test]
async fn generated_secret_values_never_appear_in_events_or_logs() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: make-secret
type: none
steps:
  - name: Generate the admin password
    uses: k8s.secret
    with: {name: "{{ deployment.slug ~ '-admin' }}", namespace: "{{ namespace }}", keys: "password,api_key", length: "40"}
"#,
            )
            .await;
        let job = runner.start_job(&book, "secret-1").await;
        let events = runner.watch_all(&job.name, 0).await;
        assert_eq!(
            final_status(&events),
            Some(JobStatus::Succeeded),
            "{backend}"
        );

        let file = std::fs::read_to_string(runner.cluster.join("acme-shop/secret/shop-admin.yaml"))
            .unwrap();
        let secret: serde_json::Value = serde_saphyr::from_str(&file).unwrap();
        let mut values = Vec::new();
        for key in ["password", "api_key"] {
            let encoded = secret["data"][key].as_str().unwrap();
            let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
            assert_eq!(decoded.len(), 40, "{backend}");
            values.push(encoded.to_owned());
            values.push(decoded);
        }
        let everything = format!("{events:?}");
        for value in &values {
            assert!(
                !everything.contains(value.as_str()),
                "{backend}: a secret value leaked into an event"
            );
        }
        assert_eq!(
            runner.step_log(&job.name, 0).await,
            ["Secret acme-shop/shop-admin created with generated keys password, api_key"],
            "{backend}"
        );

        // Run again: the values are kept, never regenerated.
        let again = runner.start_job(&book, "secret-2").await;
        runner.finished(&again.name).await;
        assert_eq!(
            std::fs::read_to_string(runner.cluster.join("acme-shop/secret/shop-admin.yaml"))
                .unwrap(),
            file
        );
    }
}

#[tokio::test]
async fn jobs_are_listed_newest_first_by_deployment_and_status_with_pages() {
    use eyrie_proto::v1::ListJobsRequest;
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        let mut names = Vec::new();
        for index in 0..3 {
            let job = runner.start_job(&book, &format!("list-{index}")).await;
            runner.finished(&job.name).await;
            names.push(job.name);
        }
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = runner
                .jobs
                .list_jobs(ListJobsRequest {
                    parent: "projects/acme/groups/-/deployments/-".into(),
                    page_size: 2,
                    page_token: token.clone(),
                    status: JobStatus::Succeeded.into(),
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.jobs.into_iter().map(|job| job.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        names.reverse();
        assert_eq!(seen, names, "{backend}: newest first, across pages");
        // A token belongs to its list: the same parent without the status filter refuses it.
        let replayed = runner
            .jobs
            .list_jobs(ListJobsRequest {
                parent: "projects/acme/groups/-/deployments/-".into(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(replayed.code(), tonic::Code::InvalidArgument, "{backend}");
        assert!(
            replayed.message().contains("page_token"),
            "{backend}: {replayed:?}"
        );

        let failed = runner
            .jobs
            .list_jobs(ListJobsRequest {
                parent: crate::harness::DEPLOYMENT.into(),
                status: JobStatus::Failed.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(failed.jobs.is_empty(), "{backend}");
        let other = runner
            .jobs
            .list_jobs(ListJobsRequest {
                parent: "projects/acme/groups/web/deployments/other".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(other.jobs.is_empty(), "{backend}");
    }
}

/// A book that tries, step by step, what a project's book must never do.
const ESCAPING_BOOK: &str = r#"
name: escaping
type: none
steps:
  - name: Write into another project's namespace
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: planted, namespace: other-project}
  - name: Never reached
    uses: k8s.delete
    with: {api_version: v1, kind: Service, name: ghost, namespace: "{{ namespace }}"}
"#;

#[tokio::test]
async fn a_step_outside_the_deployment_namespace_fails_before_anything_is_written() {
    for (backend, mut runner) in each_runner().await {
        for (case, manifest) in [
            (
                "namespace",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: planted, namespace: other-project}\n",
            ),
            (
                "binding",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: planted}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n",
            ),
            (
                "crd",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: planted.example.com}\n",
            ),
        ] {
            let indented: String = manifest.lines().map(|l| format!("        {l}\n")).collect();
            let yaml = ESCAPING_BOOK.replace(
                "        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: planted, namespace: other-project}\n",
                &indented,
            );
            let book = runner
                .add_book(&yaml.replace("name: escaping", &format!("name: escaping-{case}")))
                .await;
            let job = runner.start_job(&book, &format!("escape-{case}")).await;
            let done = runner.finished(&job.name).await;
            assert_eq!(done.status(), JobStatus::Failed, "{backend} {case}");
            assert!(
                done.message.contains("refused")
                    && done.message.contains("planted")
                    && done
                        .message
                        .contains("may touch only objects in its deployment's namespace acme-shop"),
                "{backend} {case}: {}",
                done.message
            );
            assert_eq!(
                done.steps[1].status(),
                StepStatus::Skipped,
                "{backend} {case}"
            );
        }
        let written: Vec<_> = walk(&runner.cluster);
        assert!(
            written.iter().all(|path| !path.contains("planted")),
            "{backend}: {written:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn the_project_boundary_lets_a_book_reach_the_namespaces_and_kinds_it_names() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: shared
type: none
steps:
  - name: Write into the shared namespace
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: from-acme, namespace: shared-cache}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: acme-reader}
"#,
            )
            .await;
        let boundary = pb::ProjectBoundary {
            namespaces: vec!["shared-*".into()],
            cluster_kinds: vec!["rbac.authorization.k8s.io/ClusterRole".into()],
            ..Default::default()
        };
        succeeds_within(&mut runner, &book, "shared-1", boundary, backend).await;
        assert!(
            runner
                .cluster
                .join("shared-cache/configmap/from-acme.yaml")
                .exists(),
            "{backend}: {:?}",
            walk(&runner.cluster)
        );

        // The same book without the boundary is refused, naming the empty boundary.
        let job = runner.start_job(&book, "shared-2").await;
        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Failed, "{backend}");
        assert!(
            done.message
                .contains("namespaces: none; cluster-scoped kinds: none"),
            "{backend}: {}",
            done.message
        );
    }
}

#[tokio::test]
async fn an_http_check_reaches_loopback_only_when_the_project_boundary_allows_it() {
    // A server on the runner's loopback, where a book must not look unless a global admin says.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(&format!(
                "name: probe\ntype: none\nsteps:\n  - name: Probe\n    uses: http.check\n    with: {{url: \"http://{address}/health\"}}\n    timeout: 30s\n"
            ))
            .await;
        let before = served.load(std::sync::atomic::Ordering::SeqCst);
        let job = runner.start_job(&book, "probe-refused").await;
        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Failed, "{backend}");
        assert!(
            done.message.contains("loopback")
                && done.message.contains("the project's boundary (hosts"),
            "{backend}: {}",
            done.message
        );
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            before,
            "{backend}"
        );

        let boundary = pb::ProjectBoundary {
            hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        };
        succeeds_within(&mut runner, &book, "probe-allowed", boundary, backend).await;
        assert!(
            served.load(std::sync::atomic::Ordering::SeqCst) > before,
            "{backend}"
        );
    }
}

/// Runs `book` for a deployment whose project has `boundary`, and asserts that the job succeeds.
async fn succeeds_within(
    runner: &mut Runner,
    book: &str,
    request_id: &str,
    boundary: pb::ProjectBoundary,
    backend: &str,
) {
    let mut request = start_request(book, request_id, "none", &[]);
    let project = request.snapshot.as_mut().unwrap().project.as_mut().unwrap();
    project.boundary = Some(boundary);
    let job = runner.runner.start_job(request).await.unwrap().into_inner();
    let done = runner.finished(&job.name).await;
    assert_eq!(
        done.status(),
        JobStatus::Succeeded,
        "{backend}: {}",
        done.message
    );
}

#[tokio::test]
async fn a_replayed_start_gets_its_job_even_if_the_deployment_no_longer_fits_the_book() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(&APPLY_BOOK.replace(
                "  - {name: port, default: \"8080\"}",
                "  - {name: port, required: true}",
            ))
            .await;
        let first = start_request(&book, "replay-1", "none", &[("port", "8080")]);
        let job = runner.runner.start_job(first).await.unwrap().into_inner();
        // The same start again, after the parameter was removed: deployment-svc retrying a start
        // whose answer it lost must learn that the job runs, not that it cannot start.
        let replay = start_request(&book, "replay-1", "none", &[]);
        let again = runner.runner.start_job(replay).await;
        assert_eq!(
            again.map(|r| r.into_inner().name).ok(),
            Some(job.name.clone()),
            "{backend}"
        );
        // A new request id with the same deployment is refused, naming the parameter.
        let fresh = start_request(&book, "replay-2", "none", &[]);
        let refused = runner.runner.start_job(fresh).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{backend}");
        assert!(
            refused.message().contains("\"port\""),
            "{backend}: {refused:?}"
        );
        runner.finished(&job.name).await;
    }
}

/// GetJobOutcomes answers many names in one read, in their order: each known job's outcome
/// (ended or not), and as unknown the names that are malformed, of no job, or that put a job
/// under another deployment than its own.
#[tokio::test]
async fn outcomes_are_read_for_many_jobs_at_once_and_only_under_their_own_names() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(APPLY_BOOK).await;
        let first = runner.start_job(&book, "outcome-1").await;
        let second = runner.start_job(&book, "outcome-2").await;
        let first = runner.finished(&first.name).await;
        let job_id = second.name.rsplit('/').next().unwrap().to_owned();
        let misplaced = format!("projects/beta/groups/web/deployments/shop/jobs/{job_id}");
        let missing = format!("{}/jobs/0000000000000000000000000000ffff", first.deployment);
        let names = vec![
            second.name.clone(),
            "not a job name".to_owned(),
            first.name.clone(),
            misplaced.clone(),
            missing.clone(),
            first.name.clone(),
        ];
        let answer = runner
            .runner
            .get_job_outcomes(eyrie_proto::internal::v1::GetJobOutcomesRequest { jobs: names })
            .await
            .unwrap()
            .into_inner();
        let outcomes: Vec<_> = answer
            .outcomes
            .iter()
            .map(|o| (o.job.as_str(), o.status(), o.end_time.is_some()))
            .collect();
        assert_eq!(outcomes.len(), 3, "{backend}: {outcomes:?}");
        assert_eq!(outcomes[0].0, second.name, "{backend}");
        assert_eq!(
            outcomes[1],
            (first.name.as_str(), JobStatus::Succeeded, true),
            "{backend}"
        );
        assert_eq!(outcomes[2], outcomes[1], "{backend}: a repeated name");
        assert_eq!(
            answer.outcomes[1].operation, first.operation,
            "{backend}: the operation the job ran for"
        );
        assert_eq!(
            answer.unknown_jobs,
            ["not a job name".to_owned(), misplaced, missing],
            "{backend}"
        );
    }
}
