//! WatchJob: many watchers see the same complete sequence; resuming misses nothing and repeats
//! nothing.

use eyrie_proto::v1::{self as pb, WatchJobRequest};
use futures::future::join_all;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::harness::{collect_events, each_runner, final_status, sequences};

/// A book with a few steps and log lines, slow enough that watchers join while it runs.
const BOOK: &str = r#"
name: three-steps
type: none
steps:
  - name: Namespace
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{ namespace }}}
  - name: Config
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: a, namespace: {{ namespace }}}
        data: {x: "1"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: b, namespace: {{ namespace }}}
        data: {x: "2"}
  - name: Check
    uses: k8s.wait
    with: {api_version: v1, kind: ConfigMap, name: b, namespace: "{{ namespace }}", condition: exists}
"#;

#[tokio::test]
async fn a_hundred_watchers_each_get_the_identical_complete_sequence() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let job = runner.start_job(&book, "watched-1").await;
        let watchers = (0..100).map(|_| collect_events(runner.jobs.clone(), &job.name, 0));
        let seen = join_all(watchers).await;

        let reference = &seen[0];
        assert_eq!(
            final_status(reference),
            Some(pb::JobStatus::Succeeded),
            "{backend}"
        );
        let expected: Vec<u64> = (1..=reference.len() as u64).collect();
        assert_eq!(sequences(reference), expected, "{backend}");
        for (index, events) in seen.iter().enumerate() {
            assert_eq!(
                events, reference,
                "{backend}: watcher {index} saw something else"
            );
        }
        let job = runner.finished(&job.name).await;
        assert_eq!(job.last_sequence, reference.len() as u64, "{backend}");
    }
}

#[tokio::test]
async fn a_watcher_resuming_after_n_gets_the_rest_exactly_once() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let job = runner.start_job(&book, "resumed-1").await;
        let all = runner.watch_all(&job.name, 0).await;
        for resume_after in [0, 1, 4, all.len() as u64 - 1] {
            let rest = runner.watch_all(&job.name, resume_after).await;
            assert_eq!(
                rest.as_slice(),
                &all[resume_after as usize..],
                "{backend}: after {resume_after}"
            );
        }
        // Everything already seen: the stream ends at once, empty.
        assert!(
            runner
                .watch_all(&job.name, all.len() as u64)
                .await
                .is_empty(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn watching_refuses_unknown_jobs_and_sequences_beyond_the_end() {
    for (backend, mut runner) in each_runner().await {
        let book = runner.add_book(BOOK).await;
        let job = runner.start_job(&book, "refusals-1").await;
        let done = runner.finished(&job.name).await;

        let beyond = runner
            .jobs
            .watch_job(WatchJobRequest {
                name: job.name.clone(),
                after_sequence: done.last_sequence + 1,
            })
            .await
            .unwrap_err();
        assert_eq!(beyond.code(), Code::OutOfRange, "{backend}: {beyond:?}");

        let unknown = runner
            .jobs
            .watch_job(WatchJobRequest {
                name: format!("{}/jobs/0000unknown", crate::harness::DEPLOYMENT),
                after_sequence: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{backend}");

        let malformed = runner
            .jobs
            .watch_job(WatchJobRequest {
                name: "jobs/1".into(),
                after_sequence: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(malformed.code(), Code::InvalidArgument, "{backend}");
    }
}

#[tokio::test]
async fn an_idle_stream_gets_heartbeats() {
    for (backend, mut runner) in each_runner().await {
        let book = runner
            .add_book(
                r#"
name: idle
type: none
steps:
  - name: Wait
    uses: k8s.wait
    with: {api_version: v1, kind: ConfigMap, name: never, namespace: "{{ namespace }}", condition: exists}
    timeout: 3s
"#,
            )
            .await;
        let job = runner.start_job(&book, "idle-1").await;
        let mut stream = runner
            .jobs
            .watch_job(WatchJobRequest {
                name: job.name.clone(),
                after_sequence: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut heartbeats = 0;
        while let Some(message) = stream.next().await {
            if let Some(pb::watch_job_response::Kind::Heartbeat(_)) = message.unwrap().kind {
                heartbeats += 1;
            }
        }
        assert!(
            heartbeats >= 1,
            "{backend}: no heartbeat during a 3 s wait with 500 ms heartbeats"
        );
    }
}
