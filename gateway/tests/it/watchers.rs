//! Many clients watching one job through the gateway share one upstream stream, each receiving
//! the whole ordered history exactly once, whatever the others do.

use std::time::{Duration, Instant};

use eyrie_proto::v1::{self as pb, job_service_client::JobServiceClient};
use tonic::{Code, Streaming};

use crate::fixture::Fixture;

async fn fixture(max_buffered_events: usize) -> Fixture {
    Fixture::start(|settings| {
        settings.watch.max_buffered_events = max_buffered_events;
        // One token stands for hundreds of clients here.
        settings.limits.requests_per_second = 0.0;
    })
    .await
}

/// The next event of `stream`, skipping heartbeats; `None` at the end.
async fn next_event(
    stream: &mut Streaming<pb::WatchJobResponse>,
) -> Result<Option<pb::JobEvent>, tonic::Status> {
    loop {
        match stream.message().await? {
            Some(pb::WatchJobResponse {
                kind: Some(pb::watch_job_response::Kind::Event(event)),
            }) => return Ok(Some(event)),
            Some(_) => {}
            None => return Ok(None),
        }
    }
}

/// Every event until the stream ends.
async fn drain(mut stream: Streaming<pb::WatchJobResponse>) -> Vec<pb::JobEvent> {
    let mut events = Vec::new();
    while let Some(event) = next_event(&mut stream).await.unwrap() {
        events.push(event);
    }
    events
}

/// Whether `events` are exactly the sequences `from..=to`, in order.
fn sequences(events: &[pb::JobEvent]) -> Vec<u64> {
    events.iter().map(|event| event.sequence).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_watchers_share_one_upstream_stream_and_each_see_everything_once() {
    let fixture = fixture(10_000).await;
    // A few connections, as many clients would open; each carries 125 streams.
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(fixture.channel().await);
    }
    let mut watchers = Vec::new();
    let start_watchers = |count: usize, watchers: &mut Vec<_>| {
        for index in 0..count {
            let channel = channels[index % channels.len()].clone();
            let stream = fixture.watch(channel, 0);
            watchers.push(stream);
        }
    };
    // Half join before the job starts, half while it runs: the late ones get the history first.
    let mut early = Vec::new();
    start_watchers(250, &mut early);
    let early = futures::future::join_all(early).await;
    for stream in early {
        watchers.push(tokio::spawn(drain(stream)));
    }
    for _ in 0..50 {
        fixture.runner.log(100);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut late = Vec::new();
    start_watchers(250, &mut late);
    let late = futures::future::join_all(late).await;
    for stream in late {
        watchers.push(tokio::spawn(drain(stream)));
    }
    for _ in 0..50 {
        fixture.runner.log(100);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fixture.runner.end();

    let published = fixture.runner.events();
    assert_eq!(published.len(), 101);
    for (index, watcher) in watchers.into_iter().enumerate() {
        let received = tokio::time::timeout(Duration::from_secs(60), watcher)
            .await
            .expect("a watcher never saw the end of the job")
            .unwrap();
        assert_eq!(
            sequences(&received),
            (1..=101).collect::<Vec<_>>(),
            "watcher {index}"
        );
        assert_eq!(received, published, "watcher {index} saw other events");
    }
    assert_eq!(
        fixture.runner.watch_calls(),
        1,
        "the runner must see one stream for the job, whatever the number of watchers"
    );
}

#[tokio::test]
async fn a_watcher_that_reconnects_with_its_last_sequence_gets_the_rest_exactly_once() {
    let fixture = fixture(10_000).await;
    let channel = fixture.channel().await;
    // Another watcher keeps the job's feed open while the first one is away.
    let keeper = tokio::spawn(drain(fixture.watch(channel.clone(), 0).await));
    for _ in 0..40 {
        fixture.runner.log(10);
    }
    let mut first = fixture.watch(channel.clone(), 0).await;
    let mut received = Vec::new();
    while received.len() < 25 {
        received.push(next_event(&mut first).await.unwrap().unwrap());
    }
    drop(first);
    for _ in 0..40 {
        fixture.runner.log(10);
    }
    let last = received.last().unwrap().sequence;
    let resumed = fixture.watch(channel, last).await;
    fixture.runner.end();
    received.extend(drain(resumed).await);

    assert_eq!(sequences(&received), (1..=81).collect::<Vec<_>>());
    assert_eq!(received, fixture.runner.events());
    assert_eq!(keeper.await.unwrap(), fixture.runner.events());
    assert_eq!(fixture.runner.watch_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_delays_neither_the_job_nor_the_other_watchers() {
    let fixture = fixture(10_000).await;
    // The slow watcher has a connection of its own, as a slow client would.
    let mut slow = fixture.watch(fixture.channel().await, 0).await;
    let channel = fixture.channel().await;
    let mut fast = Vec::new();
    for _ in 0..20 {
        let stream = fixture.watch(channel.clone(), 0).await;
        fast.push(tokio::spawn(async move {
            let events = drain(stream).await;
            (events, Instant::now())
        }));
    }
    // The slow one reads one event, then stops reading while 6 MB of logs go by: more than its
    // connection's flow-control window (2 MiB per stream) lets through.
    fixture.runner.log(1000);
    assert_eq!(next_event(&mut slow).await.unwrap().unwrap().sequence, 1);
    for _ in 0..3000 {
        fixture.runner.log(2000);
        tokio::task::yield_now().await;
    }
    fixture.runner.end();

    // Every fast watcher gets the whole job while the slow one still reads nothing: one held
    // up by it would wait forever, which the bound (for a hang, not a speed) turns into a
    // failure. How fast they are is the benchmark's business (B2).
    let finished = async {
        for watcher in fast {
            let (events, _) = watcher.await.unwrap();
            assert_eq!(events.len(), 3002);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), finished)
        .await
        .expect("the fast watchers were held up by the slow one");
    // The slow watcher then catches up, with everything, in order.
    let mut rest = vec![1];
    while let Some(event) = next_event(&mut slow).await.unwrap() {
        rest.push(event.sequence);
    }
    assert_eq!(rest, (1..=3002).collect::<Vec<_>>());
    assert_eq!(fixture.runner.watch_calls(), 1);
}

#[tokio::test]
async fn a_watcher_left_behind_the_kept_events_catches_up_from_the_runner_exactly_once() {
    // Only 20 events kept in memory.
    let fixture = fixture(20).await;
    let mut slow = fixture.watch(fixture.channel().await, 0).await;
    for _ in 0..500 {
        fixture.runner.log(2000);
        tokio::task::yield_now().await;
    }
    fixture.runner.end();
    // Once a watcher of the last few events sees the end, the feed holds only those.
    let tail = drain(fixture.watch(fixture.channel().await, 490).await).await;
    assert_eq!(sequences(&tail), (491..=501).collect::<Vec<_>>());

    let mut received = Vec::new();
    while let Some(event) = next_event(&mut slow).await.unwrap() {
        received.push(event);
    }
    assert_eq!(sequences(&received), (1..=501).collect::<Vec<_>>());
    assert_eq!(received, fixture.runner.events());
    // Besides the shared stream, the runner served the catch-ups from its stored history.
    assert!(fixture.runner.watch_calls() >= 2);
}

#[tokio::test]
async fn watching_a_job_that_does_not_exist_is_not_found() {
    let fixture = fixture(100).await;
    let request = eyrie_tests::auth::with_token(
        &fixture.token,
        pb::WatchJobRequest {
            name: "projects/acme/groups/web/deployments/shop/jobs/missing".into(),
            after_sequence: 0,
        },
    );
    let status = JobServiceClient::new(fixture.channel().await)
        .watch_job(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}
