//! Steps with an `if:` run only where it holds; the others end SKIPPED, say why, and the job
//! goes on.

use eyrie_proto::v1::{self as pb, JobStatus, StepStatus, job_event::Kind};

use crate::harness::{each_runner, start_request};

const BOOK: &str = r#"
name: web-conditional
type: none
parameters:
  - {name: ingress_host, default: ""}
  - {name: replicas, default: "1"}
steps:
  - name: Create the namespace
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{ namespace }}}
  - name: Apply the routing
    uses: k8s.apply
    if: deployment.parameters.ingress_host
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: routing, namespace: {{ namespace }}}
        data: {host: {{ deployment.parameters.ingress_host }}}
  - name: Delete the routing
    uses: k8s.delete
    if: not deployment.parameters.ingress_host
    with: {api_version: v1, kind: ConfigMap, name: routing, namespace: "{{ namespace }}"}
  - name: Scale
    uses: k8s.apply
    if: deployment.parameters.replicas | int > 1
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: scale, namespace: {{ namespace }}}
"#;

/// What watchers saw of each step: `start 0`, `ok 0`, `skip 1: <reason>`, `fail 2: <error>`.
fn step_events(events: &[pb::JobEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event.kind.as_ref()? {
            Kind::StepStarted(started) => Some(format!("start {}", started.step_index)),
            Kind::StepSucceeded(done) => Some(format!("ok {}", done.step_index)),
            Kind::StepSkipped(skipped) => {
                Some(format!("skip {}: {}", skipped.step_index, skipped.reason))
            }
            Kind::StepFailed(failed) => {
                Some(format!("fail {}: {}", failed.step_index, failed.error))
            }
            _ => None,
        })
        .collect()
}

fn statuses(job: &pb::Job) -> Vec<(StepStatus, u32, &str)> {
    job.steps
        .iter()
        .map(|step| (step.status(), step.attempts, step.message.as_str()))
        .collect()
}

#[tokio::test]
async fn a_step_whose_condition_is_false_is_skipped_with_its_reason_and_the_job_succeeds() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let request = start_request(&book, "no-host", "none", &[]);
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        let done = runner.finished(&job.name).await;

        let routing = r#""deployment.parameters.ingress_host" is false"#;
        let scale = r#""deployment.parameters.replicas | int > 1" is false"#;
        // A skipped step never starts, and the last step may be the skipped one.
        assert_eq!(
            step_events(&events),
            [
                "start 0".to_owned(),
                "ok 0".to_owned(),
                format!("skip 1: {routing}"),
                "start 2".to_owned(),
                "ok 2".to_owned(),
                format!("skip 3: {scale}"),
            ],
            "{backend}"
        );
        assert_eq!(done.status(), JobStatus::Succeeded, "{backend}");
        assert_eq!(done.message, "", "{backend}");
        let skipped_routing = format!("skipped: {routing}");
        let skipped_scale = format!("skipped: {scale}");
        assert_eq!(
            statuses(&done),
            [
                (StepStatus::Succeeded, 1, ""),
                (StepStatus::Skipped, 0, skipped_routing.as_str()),
                (StepStatus::Succeeded, 1, ""),
                (StepStatus::Skipped, 0, skipped_scale.as_str()),
            ],
            "{backend}"
        );
        assert!(done.steps[1].end_time.is_some(), "{backend}");
        assert!(
            !runner.cluster.join("acme-shop/configmap").exists(),
            "{backend}: a skipped apply applied nothing"
        );
    }
}

#[tokio::test]
async fn a_true_condition_runs_the_step_and_the_opposite_one_is_skipped() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let request = start_request(
            &book,
            "host",
            "none",
            &[("ingress_host", "shop.example"), ("replicas", "2")],
        );
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        let done = runner.finished(&job.name).await;
        assert_eq!(
            step_events(&events),
            [
                "start 0",
                "ok 0",
                "start 1",
                "ok 1",
                r#"skip 2: "not deployment.parameters.ingress_host" is false"#,
                "start 3",
                "ok 3",
            ],
            "{backend}"
        );
        assert_eq!(done.status(), JobStatus::Succeeded, "{backend}");
        let routing =
            std::fs::read_to_string(runner.cluster.join("acme-shop/configmap/routing.yaml"))
                .unwrap();
        assert!(routing.contains("shop.example"), "{backend}: {routing}");
    }
}

#[tokio::test]
async fn a_condition_that_fails_for_the_deployment_fails_its_step_without_retry() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let request = start_request(&book, "bad-replicas", "none", &[("replicas", "many")]);
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        let done = runner.finished(&job.name).await;

        assert_eq!(done.status(), JobStatus::Failed, "{backend}");
        let step = &done.steps[3];
        assert_eq!(step.status(), StepStatus::Failed, "{backend}");
        assert!(
            step.message.starts_with(r#"step 4 ("Scale") if: "#),
            "{backend}: {}",
            step.message
        );
        assert_eq!(
            done.message,
            format!("step 4 (Scale) failed: {}", step.message),
            "{backend}"
        );
        let seen = step_events(&events);
        assert_eq!(
            seen.last().map(String::as_str),
            Some(format!("fail 3: {}", step.message).as_str()),
            "{backend}: {seen:?}"
        );
        assert!(!seen.contains(&"start 3".to_owned()), "{backend}: {seen:?}");
    }
}

#[tokio::test]
async fn a_conditional_first_step_is_left_to_the_worker_by_the_claim() {
    const FIRST_SKIPPED: &str = r#"
name: first-skipped
type: none
steps:
  - name: Only on drop
    uses: k8s.delete
    if: action == 'drop'
    with: {api_version: v1, kind: Namespace, name: "{{ namespace }}"}
  - name: Wait for the namespace
    uses: k8s.wait
    if: action == 'deploy'
    with: {api_version: v1, kind: Namespace, name: "{{ namespace }}", condition: gone}
"#;
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(FIRST_SKIPPED).await;
        let request = start_request(&book, "first-skipped", "none", &[]);
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        assert_eq!(
            step_events(&events),
            [r#"skip 0: "action == 'drop'" is false"#, "start 1", "ok 1"],
            "{backend}"
        );
        let done = runner.finished(&job.name).await;
        assert_eq!(done.status(), JobStatus::Succeeded, "{backend}");
    }
}

#[tokio::test]
async fn on_several_clusters_a_step_runs_where_its_condition_holds() {
    const PER_CLUSTER: &str = r#"
name: per-cluster
type: none
steps:
  - name: Apply on c1
    uses: k8s.apply
    if: cluster.slug == 'c1'
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: only-c1, namespace: {{ namespace }}}
  - name: Apply on c3
    uses: k8s.apply
    if: cluster.slug == 'c3'
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: only-c3, namespace: {{ namespace }}}
"#;
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(PER_CLUSTER).await;
        let mut request = start_request(&book, "per-cluster", "none", &[]);
        let snapshot = request.snapshot.as_mut().unwrap();
        let mut second = snapshot.clusters[0].clone();
        second.name = "projects/acme/clusters/c2".into();
        second.slug = "c2".into();
        second.connection = Some(pb::deployment_snapshot::cluster::Connection::Directory(
            pb::DirectoryConnection {
                path: "c2".into(),
                simulated: false,
            },
        ));
        snapshot.clusters.push(second);
        let job = runner.runner.start_job(request).await.unwrap().into_inner();
        let events = runner.watch_all(&job.name, 0).await;
        let done = runner.finished(&job.name).await;

        assert_eq!(
            step_events(&events),
            [
                "start 0",
                "ok 0",
                r#"skip 1: "cluster.slug == 'c3'" is false"#
            ],
            "{backend}"
        );
        assert_eq!(done.status(), JobStatus::Succeeded, "{backend}");
        let c2 = runner.cluster.with_file_name("c2");
        assert!(
            runner
                .cluster
                .join("acme-shop/configmap/only-c1.yaml")
                .exists(),
            "{backend}"
        );
        assert!(!c2.join("acme-shop").exists(), "{backend}");
        assert_eq!(
            runner
                .step_log(&job.name, 0)
                .await
                .last()
                .map(String::as_str),
            Some(
                r#"[projects/acme/clusters/c2] skipped on this cluster: "cluster.slug == 'c1'" is false"#
            ),
            "{backend}"
        );
    }
}
