//! The console's live parts (#18) over HTTP, as an EventSource reads them: the group's cards
//! and a job's steps and log, streamed as Server-Sent Events by the gateway from its shared
//! upstream streams.
//!
//! Most tests run the whole suite (every service a separate process) with a simulated cluster,
//! whose controllers the runner plays. The count of upstream streams is read from stand-ins of
//! deployment-svc and book-runner-svc in front of an in-process gateway.
//!
//! Two figures are printed (`cargo nextest run -p eyrie-gateway --test console_live
//! --no-capture`): the latency from a job event to its SSE frame at the client, and the
//! gateway's memory per open live tab.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, SuiteConfig, journey::Gateway};
use http_body_util::BodyExt as _;

#[allow(dead_code)]
mod console_support;

use console_support::{Browser, Page, create_simulated_cluster};

const PROJECT: &str = "projects/acme";
const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const GROUP_EVENTS: &str = "/_eyrie/p/acme/dg/web/events";
const SHOP_PAGE: &str = "/_eyrie/p/acme/dg/web/d/shop";

/// Longest a live change may take to arrive, a job included, on a loaded machine.
const LIVE_WAIT: Duration = Duration::from_secs(60);

/// A `none` deploy's rollout wait runs for a few of the simulated controllers' passes: slower
/// passes leave time to open a job's stream while it runs.
const SLOW_CONTROLLERS: &str = "simulated_pass_interval = \"500ms\"";

/// Opens the event stream at `path` in `tab`: its status, and the stream when it is one.
async fn events(
    tab: &mut Browser,
    path: &str,
    last_event_id: Option<&str>,
) -> (http::StatusCode, Option<EventStream>) {
    let mut request = tab
        .request(http::Method::GET, path)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = tab.respond(request, String::new()).await;
    let status = response.status();
    let is_stream = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value == "text/event-stream");
    let stream = is_stream.then(|| EventStream {
        body: response.into_body(),
        buffer: String::new(),
    });
    (status, stream)
}

/// One Server-Sent Event, with the wall-clock time it arrived.
#[derive(Debug, Clone)]
struct Frame {
    event: String,
    id: Option<String>,
    data: String,
    /// Arrival, ms since the Unix epoch.
    at: f64,
}

/// An open `text/event-stream`, read frame by frame.
struct EventStream {
    body: hyper::body::Incoming,
    buffer: String,
}

impl EventStream {
    /// The next event (comments skipped); `None` once the server ended the stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                    at: now_ms(),
                };
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        frame.event = value.trim_start().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    } else if let Some(value) = line.strip_prefix("id:") {
                        frame.id = Some(value.trim_start().to_owned());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                frame.data = data.join("\n");
                return Some(frame);
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// The first event satisfying `wanted`, within [`LIVE_WAIT`]; every event read before it
    /// is pushed on `seen`.
    async fn until(
        &mut self,
        seen: &mut Vec<Frame>,
        what: &str,
        wanted: impl Fn(&Frame) -> bool,
    ) -> Frame {
        let found = tokio::time::timeout(LIVE_WAIT, async {
            while let Some(frame) = self.next().await {
                if wanted(&frame) {
                    return Some(frame);
                }
                seen.push(frame);
            }
            None
        })
        .await;
        match found {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("the stream ended before {what}: {seen:#?}"),
            Err(_) => panic!("no {what} in {LIVE_WAIT:?}: {seen:#?}"),
        }
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

fn timestamp_ms(time: Option<&prost_types::Timestamp>) -> f64 {
    time.map_or(0.0, |time| {
        time.seconds as f64 * 1000.0 + f64::from(time.nanos) / 1e6
    })
}

/// The suite (with `gateway` settings) holding project `acme`: scope `dev`, the simulated
/// directory cluster `sim`, group `web` of type `none` and its deployment `shop` on `sim`, in
/// draft.
async fn seeded(gateway: &str) -> (Suite, Gateway) {
    let suite = Suite::start_with(SuiteConfig {
        runner: SLOW_CONTROLLERS.to_owned(),
        gateway: gateway.to_owned(),
    })
    .await
    .unwrap();
    let mut api = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    api.create_project("acme", "Acme").await.unwrap();
    api.create_scope(PROJECT, "dev", "Dev", true).await.unwrap();
    create_simulated_cluster(&suite, &mut api).await;
    api.create_group(PROJECT, "web", pb::DeploymentType::None)
        .await
        .unwrap();
    let shop = api.request(pb::CreateDeploymentRequest {
        parent: format!("{PROJECT}/groups/web"),
        deployment_id: "shop".into(),
        deployment: Some(pb::Deployment {
            display_name: "Shop".into(),
            scope: format!("{PROJECT}/scopes/dev"),
            clusters: vec![format!("{PROJECT}/clusters/sim")],
            image: "nginx:1.27".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_deployment(shop).await.unwrap();
    (suite, api)
}

async fn deploy(api: &mut Gateway) -> pb::Operation {
    let request = api.request(pb::DeployDeploymentRequest {
        name: SHOP.into(),
        ..Default::default()
    });
    api.deployments
        .deploy_deployment(request)
        .await
        .unwrap()
        .into_inner()
}

fn is_card(frame: &Frame) -> bool {
    frame.event == "deployment-shop" && frame.data.contains(r#"id="deployment-shop""#)
}

#[tokio::test]
async fn the_group_stream_sends_the_card_with_its_running_jobs_badge_then_without() {
    let (suite, mut api) = seeded("").await;
    let mut tab = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;

    let Page {
        status, body: page, ..
    } = tab.get("/_eyrie/p/acme/dg/web").await;
    assert_eq!(status, http::StatusCode::OK, "{page}");
    for attribute in [
        r#"hx-ext="sse""#,
        r#"sse-connect="/_eyrie/p/acme/dg/web/events?known="#,
        r#"sse-close="end""#,
        r#"sse-swap="deployment-shop""#,
        r#"sse-swap="deployment-added""#,
    ] {
        assert!(page.contains(attribute), "{attribute}: {page}");
    }
    let start = page.find("/_eyrie/p/acme/dg/web/events?known=").unwrap();
    let events_path = &page[start..start + page[start..].find('"').unwrap()];

    let (status, stream) = events(&mut tab, events_path, None).await;
    assert_eq!(status, http::StatusCode::OK);
    let mut stream = stream.expect("an event stream");
    let mut seen = Vec::new();
    // The current state first: the card as the page shows it, no badge.
    let first = stream.until(&mut seen, "the card", is_card).await;
    assert!(first.data.contains("draft"), "{first:?}");
    assert!(!first.data.contains("running job"), "{first:?}");
    assert!(first.id.is_some(), "{first:?}");

    let operation = deploy(&mut api).await;
    let with_badge = stream
        .until(&mut seen, "the card with its badge", |frame| {
            is_card(frame) && frame.data.contains("1 running job")
        })
        .await;
    // The badge shows once the job's start is recorded: the operation lists it by then.
    let operation = api.operation_with_job(&operation.name, 0).await.unwrap();
    let job = &operation.jobs[0];
    let job_id = job.rsplit('/').next().unwrap();
    let link = format!(r#"<a class="badge jobs" href="{SHOP_PAGE}/jobs/"#);
    assert!(with_badge.data.contains(&link), "{with_badge:?}");
    assert!(
        with_badge
            .data
            .contains(r#"class="spinner" aria-hidden="true""#),
        "{with_badge:?}"
    );
    let initialize = api.job(job).await.unwrap();
    println!(
        "group stream: job {job_id} queued → badge frame at the client: {:.1} ms",
        with_badge.at - timestamp_ms(initialize.create_time.as_ref())
    );

    let without = stream
        .until(&mut seen, "the card of the deployed shop", |frame| {
            is_card(frame) && !frame.data.contains("running job")
        })
        .await;
    assert!(without.data.contains("deployed"), "{without:?}");
    let ended = api.ended(&operation.name).await.unwrap();
    assert_eq!(ended.status(), pb::OperationStatus::Succeeded, "{ended:?}");
}

#[tokio::test]
async fn a_new_deployment_is_added_once_and_a_reconnection_resends_every_card() {
    let (suite, mut api) = seeded("").await;
    let mut tab = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let shop = api.deployment(SHOP).await.unwrap();
    let shop_created = shop.create_time.unwrap();
    let known = shop_created.seconds * 1_000_000 + i64::from(shop_created.nanos / 1000);

    let (_, stream) = events(&mut tab, &format!("{GROUP_EVENTS}?known={known}"), None).await;
    let mut stream = stream.unwrap();
    let mut seen = Vec::new();
    stream.until(&mut seen, "the card", is_card).await;
    let request = api.request(pb::CreateDeploymentRequest {
        parent: format!("{PROJECT}/groups/web"),
        deployment_id: "ledger".into(),
        deployment: Some(pb::Deployment {
            display_name: "Ledger".into(),
            scope: format!("{PROJECT}/scopes/dev"),
            clusters: vec![format!("{PROJECT}/clusters/sim")],
            image: "nginx:1.27".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_deployment(request).await.unwrap();
    let added = stream
        .until(&mut seen, "the new card", |frame| {
            frame.event == "deployment-added"
        })
        .await;
    assert!(
        added
            .data
            .contains(r#"id="deployment-ledger" sse-swap="deployment-ledger""#),
        "{added:?}"
    );
    let holds = added.id.clone().expect("an id");
    drop(stream);

    // A reconnecting EventSource sends the last id back: every card comes again, as a
    // replacement, the ledger's too (the page holds it now).
    let (_, stream) = events(&mut tab, GROUP_EVENTS, Some(&holds)).await;
    let mut stream = stream.unwrap();
    let mut again = Vec::new();
    stream
        .until(&mut again, "the ledger's card", |frame| {
            frame.event == "deployment-ledger"
        })
        .await;
    stream.until(&mut again, "the shop's card", is_card).await;
    assert!(
        again.iter().all(|frame| frame.event != "deployment-added"),
        "{again:#?}"
    );
}

#[tokio::test]
async fn the_job_stream_sends_steps_from_running_to_succeeded_and_log_lines_then_ends() {
    let (suite, mut api) = seeded("").await;
    let mut tab = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let operation = deploy(&mut api).await;
    // The deploy job (after initialize) waits for its rollout for a few seconds.
    let with_deploy = api.operation_with_job(&operation.name, 1).await.unwrap();
    let job = with_deploy.jobs.get(1).expect("a deploy job").clone();
    let job_id = job.rsplit('/').next().unwrap().to_owned();
    let job_page = format!("{SHOP_PAGE}/jobs/{job_id}");

    // The deployment's page links each job to its page.
    let Page {
        status: _,
        body: deployment_page,
        ..
    } = tab.get(SHOP_PAGE).await;
    assert!(
        deployment_page.contains(&format!(r#"href="{job_page}""#)),
        "{deployment_page}"
    );
    let Page {
        status, body: page, ..
    } = tab.get(&job_page).await;
    assert_eq!(status, http::StatusCode::OK, "{page}");
    for text in [
        r#"id="job-status""#,
        r#"id="step-0""#,
        r#"id="log-lines""#,
        r#"sse-swap="step-0""#,
        "Kind",
        "Attempts",
    ] {
        assert!(page.contains(text), "{text}: {page}");
    }
    let (status, stream) = events(&mut tab, &format!("{job_page}/events"), None).await;
    assert_eq!(status, http::StatusCode::OK);
    let mut stream = stream.unwrap();
    let mut frames = Vec::new();
    let read_all = async {
        while let Some(frame) = stream.next().await {
            frames.push(frame);
        }
    };
    tokio::time::timeout(LIVE_WAIT, read_all)
        .await
        .expect("the job's stream ended with the job");

    let names: Vec<&str> = frames.iter().map(|frame| frame.event.as_str()).collect();
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    // The page's parts first, then the changes.
    assert_eq!(names[0], "job", "{names:?}");
    assert!(names.contains(&"log-step"), "{names:?}");
    let rows = |index: usize| -> Vec<&Frame> {
        frames
            .iter()
            .filter(|frame| frame.event == format!("step-{index}"))
            .collect()
    };
    let job_found = api.job(&job).await.unwrap();
    assert_eq!(job_found.status(), pb::JobStatus::Succeeded);
    let mut followed = 0;
    for step in &job_found.steps {
        let sent = rows(step.index as usize);
        let last = sent.last().expect("every row is sent");
        assert!(last.data.contains("succeeded"), "{last:?}");
        assert!(
            last.data
                .contains(&format!(r#"<tr class="step" id="step-{}""#, step.index)),
            "{last:?}"
        );
        if sent.iter().any(|frame| frame.data.contains("running")) {
            followed += 1;
        }
    }
    assert!(followed > 0, "no step was seen running: {names:?}");
    let final_status = frames
        .iter()
        .rev()
        .find(|frame| frame.event == "job")
        .unwrap();
    assert!(final_status.data.contains("succeeded"), "{final_status:?}");
    assert!(
        frames
            .iter()
            .any(|frame| frame.event == "log" && frame.data.contains("[simulated]")),
        "no log line: {names:?}"
    );

    // The latency of each change: the event's time (the runner's clock) to the frame's
    // arrival (the test's; one machine).
    let events = api.watch_job(&job).await.unwrap();
    let sequence = |frame: &Frame| frame.id.as_deref().and_then(|id| id.parse::<u64>().ok());
    // The page's parts are sent at once under the sequence the stream caught up at; only the
    // frames after them follow live events.
    let caught_up = sequence(&frames[0]).expect("ids are sequences");
    // Log lines apart: the runner stores (and so publishes) a step's lines in batches, each
    // stamped with the time it was written.
    let (mut lines, mut changes): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for frame in &frames {
        let Some(sequence) = sequence(frame).filter(|sequence| *sequence > caught_up) else {
            continue;
        };
        let Some(event) = events.iter().find(|event| event.sequence == sequence) else {
            continue;
        };
        let latency = frame.at - timestamp_ms(event.time.as_ref());
        if frame.event == "log" {
            lines.push(latency);
        } else {
            changes.push(latency);
        }
    }
    for (what, mut latencies) in [("step and job changes", changes), ("log lines", lines)] {
        latencies.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
            println!(
                "job stream: job event → SSE frame at the client, {what}, {} frames: \
                 min {first:.1} ms, median {:.1} ms, max {last:.1} ms",
                latencies.len(),
                latencies[latencies.len() / 2]
            );
        }
    }

    // An ended job's page does not follow anything.
    let Page {
        status: _,
        body: ended_page,
        ..
    } = tab.get(&job_page).await;
    assert!(!ended_page.contains("sse-connect"), "{ended_page}");
    assert!(ended_page.contains("succeeded"), "{ended_page}");
}

#[tokio::test]
async fn a_viewer_watches_and_a_request_without_a_session_is_refused() {
    let (suite, mut api) = seeded("").await;
    api.create_project("other", "Other").await.unwrap();
    api.create_group("projects/other", "ops", pb::DeploymentType::None)
        .await
        .unwrap();
    let viewer = api
        .create_token("viewer", PROJECT, pb::Role::Viewer)
        .await
        .unwrap();

    let mut anonymous = Browser::new(suite.gateway.url());
    let (status, stream) = events(&mut anonymous, GROUP_EVENTS, None).await;
    assert_eq!(status, http::StatusCode::UNAUTHORIZED);
    assert!(stream.is_none());
    let (status, _) = events(
        &mut anonymous,
        &format!("{SHOP_PAGE}/jobs/0190f5d2/events"),
        None,
    )
    .await;
    assert_eq!(status, http::StatusCode::UNAUTHORIZED);

    let mut tab = Browser::signed_in(suite.gateway.url(), &viewer).await;
    let (status, stream) = events(&mut tab, GROUP_EVENTS, None).await;
    assert_eq!(status, http::StatusCode::OK);
    let mut seen = Vec::new();
    stream.unwrap().until(&mut seen, "the card", is_card).await;
    let (status, _) = events(&mut tab, "/_eyrie/p/other/dg/ops/events", None).await;
    assert_eq!(status, http::StatusCode::FORBIDDEN);
    let (status, _) = events(&mut tab, "/_eyrie/p/acme/dg/nothing/events", None).await;
    assert_eq!(status, http::StatusCode::NOT_FOUND);
    let (status, _) = events(&mut tab, &format!("{SHOP_PAGE}/jobs/0190f5d2/events"), None).await;
    assert_eq!(status, http::StatusCode::NOT_FOUND);
}

/// The gateway's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Prints the gateway's memory per open live tab: 200 streams of one group's cards, each read
/// up to its first card. A figure, not a limit: nothing is asserted of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_of_two_hundred_open_group_streams_is_printed() {
    const TABS: usize = 200;
    // One person opening many tabs at once: no rate limit in the way.
    let (suite, _api) = seeded("[limits]\nrequests_per_second = 0.0").await;
    let mut tab = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let pid = suite.gateway.pid();

    // One stream open first: the group's shared feed exists, the code paths are warm.
    let (_, first) = events(&mut tab, GROUP_EVENTS, None).await;
    let mut first = first.unwrap();
    first.until(&mut Vec::new(), "the card", is_card).await;
    let before = rss_kib(pid);
    let mut open = Vec::with_capacity(TABS);
    for _ in 0..TABS {
        let (status, stream) = events(&mut tab, GROUP_EVENTS, None).await;
        assert_eq!(status, http::StatusCode::OK);
        let mut stream = stream.unwrap();
        stream.until(&mut Vec::new(), "the card", is_card).await;
        open.push(stream);
    }
    let after = rss_kib(pid);
    println!(
        "gateway memory per open live tab ({TABS} group streams): {:.1} KiB \
         (RSS {before} KiB → {after} KiB)",
        after.saturating_sub(before) as f64 / TABS as f64
    );
    drop(open);
}

/// Stand-ins of deployment-svc and book-runner-svc: one group holding `shop`, one running job,
/// and the count of WatchDeployments and WatchJob streams opened on them.
mod upstream {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use eyrie_proto::v1::{
        self as pb,
        deployment_service_server::{DeploymentService, DeploymentServiceServer},
        job_event::{JobQueued, Kind as EventKind, StepStarted},
        job_service_server::{JobService, JobServiceServer},
        watch_deployments_response::{InitialStateComplete, Kind},
    };
    use futures::StreamExt as _;
    use tonic::{Request, Response, Status, codegen::BoxStream};

    pub const GROUP: &str = "projects/acme/groups/web";
    pub const JOB: &str = "projects/acme/groups/web/deployments/shop/jobs/j1";

    /// The streams opened so far.
    #[derive(Clone, Default)]
    pub struct Upstream {
        pub group_watches: Arc<AtomicUsize>,
        pub job_watches: Arc<AtomicUsize>,
    }

    impl Upstream {
        /// Serves both services on a free loopback port; returns its URL.
        pub async fn serve(&self) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(DeploymentServiceServer::new(self.clone()))
                    .add_service(JobServiceServer::new(self.clone()))
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
            );
            format!("http://{address}")
        }
    }

    fn running_step() -> pb::JobStep {
        pb::JobStep {
            index: 0,
            name: "Apply".into(),
            uses: "k8s.apply".into(),
            status: pb::StepStatus::Running.into(),
            attempts: 1,
            ..Default::default()
        }
    }

    #[tonic::async_trait]
    impl DeploymentService for Upstream {
        async fn list_scopes(
            &self,
            _request: Request<pb::ListScopesRequest>,
        ) -> Result<Response<pb::ListScopesResponse>, Status> {
            Ok(Response::new(pb::ListScopesResponse::default()))
        }

        async fn list_clusters(
            &self,
            _request: Request<pb::ListClustersRequest>,
        ) -> Result<Response<pb::ListClustersResponse>, Status> {
            Ok(Response::new(pb::ListClustersResponse::default()))
        }

        async fn watch_deployments(
            &self,
            request: Request<pb::WatchDeploymentsRequest>,
        ) -> Result<Response<BoxStream<pb::WatchDeploymentsResponse>>, Status> {
            if request.get_ref().parent != GROUP {
                return Err(Status::not_found("no such group"));
            }
            self.group_watches.fetch_add(1, Ordering::SeqCst);
            let shop = pb::Deployment {
                name: format!("{GROUP}/deployments/shop"),
                slug: "shop".into(),
                display_name: "Shop".into(),
                state: pb::DeploymentState::Deploy.into(),
                ..Default::default()
            };
            let messages = [
                Kind::Deployment(shop),
                Kind::InitialStateComplete(InitialStateComplete {}),
            ]
            .map(|kind| Ok(pb::WatchDeploymentsResponse { kind: Some(kind) }));
            let stream = futures::stream::iter(messages).chain(futures::stream::pending());
            Ok(Response::new(stream.boxed()))
        }
    }

    #[tonic::async_trait]
    impl JobService for Upstream {
        async fn get_job(
            &self,
            request: Request<pb::GetJobRequest>,
        ) -> Result<Response<pb::Job>, Status> {
            if request.get_ref().name != JOB {
                return Err(Status::not_found("no such job"));
            }
            Ok(Response::new(pb::Job {
                name: JOB.into(),
                status: pb::JobStatus::Running.into(),
                steps: vec![running_step()],
                last_sequence: 2,
                ..Default::default()
            }))
        }

        async fn watch_job(
            &self,
            request: Request<pb::WatchJobRequest>,
        ) -> Result<Response<BoxStream<pb::WatchJobResponse>>, Status> {
            if request.get_ref().name != JOB {
                return Err(Status::not_found("no such job"));
            }
            self.job_watches.fetch_add(1, Ordering::SeqCst);
            let after = request.get_ref().after_sequence;
            let events = [
                EventKind::JobQueued(JobQueued {}),
                EventKind::StepStarted(StepStarted {
                    step_index: 0,
                    attempt: 1,
                }),
            ]
            .into_iter()
            .zip(1..)
            .filter(move |(_, sequence)| *sequence > after)
            .map(|(kind, sequence)| {
                Ok(pb::WatchJobResponse {
                    kind: Some(pb::watch_job_response::Kind::Event(pb::JobEvent {
                        job: JOB.into(),
                        sequence,
                        time: None,
                        kind: Some(kind),
                    })),
                })
            })
            .collect::<Vec<_>>();
            let stream = futures::stream::iter(events).chain(futures::stream::pending());
            Ok(Response::new(stream.boxed()))
        }
    }
}

/// A gateway in process in front of the stand-ins, with its admin token.
async fn gateway_on_stand_ins() -> (
    eyrie_platform::testing::TestServer,
    String,
    upstream::Upstream,
    tempfile::TempDir,
) {
    use eyrie_gateway::{Gateway as GatewayService, Settings};
    use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};

    let upstream = upstream::Upstream::default();
    let url = upstream.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database: DatabaseSettings::with_url(format!(
            "sqlite://{}/gateway.sqlite?mode=rwc",
            dir.path().display()
        )),
        ..Settings::default()
    };
    settings.backends.deployment = url.clone();
    settings.backends.book_runner = url;
    settings.auth.bootstrap_token_file = Some(dir.path().join("admin-token"));
    let gateway = TestServer::start::<GatewayService>(settings).await.unwrap();
    let token = std::fs::read_to_string(dir.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    (gateway, token, upstream, dir)
}

#[tokio::test]
async fn a_second_tab_opens_no_second_upstream_stream() {
    let (gateway, token, upstream, _dir) = gateway_on_stand_ins().await;
    let mut first = Browser::signed_in(gateway.url(), &token).await;
    let mut second = Browser::signed_in(gateway.url(), &token).await;
    let job_events = "/_eyrie/p/acme/dg/web/d/shop/jobs/j1/events";
    let mut streams = Vec::new();
    for tab in [&mut first, &mut second] {
        let (status, stream) = events(tab, GROUP_EVENTS, None).await;
        assert_eq!(status, http::StatusCode::OK);
        let mut stream = stream.unwrap();
        stream.until(&mut Vec::new(), "the card", is_card).await;
        streams.push(stream);
        let (status, stream) = events(tab, job_events, None).await;
        assert_eq!(status, http::StatusCode::OK);
        let mut stream = stream.unwrap();
        let row = stream
            .until(&mut Vec::new(), "the step's row", |frame| {
                frame.event == "step-0"
            })
            .await;
        assert!(row.data.contains("running"), "{row:?}");
        streams.push(stream);
    }
    use std::sync::atomic::Ordering;
    assert_eq!(upstream.group_watches.load(Ordering::SeqCst), 1);
    assert_eq!(upstream.job_watches.load(Ordering::SeqCst), 1);

    // Once every tab left, nothing is left behind: the shared streams close, and a tab opened
    // then starts new ones.
    drop(streams);
    let reopened = async {
        loop {
            let (_, group) = events(&mut first, GROUP_EVENTS, None).await;
            let mut group = group.unwrap();
            group.until(&mut Vec::new(), "the card", is_card).await;
            let (_, job) = events(&mut first, job_events, None).await;
            let mut job = job.unwrap();
            job.until(&mut Vec::new(), "the step's row", |frame| {
                frame.event == "step-0"
            })
            .await;
            if upstream.group_watches.load(Ordering::SeqCst) == 2
                && upstream.job_watches.load(Ordering::SeqCst) == 2
            {
                return;
            }
            drop((group, job));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(LIVE_WAIT, reopened)
        .await
        .expect("the upstream streams closed when their last tab left");
}

#[tokio::test]
async fn signing_out_ends_the_open_streams() {
    let (gateway, token, _upstream, _dir) = gateway_on_stand_ins().await;
    let mut tab = Browser::signed_in(gateway.url(), &token).await;
    let (_, stream) = events(&mut tab, GROUP_EVENTS, None).await;
    let mut stream = stream.unwrap();
    stream.until(&mut Vec::new(), "the card", is_card).await;

    // Any page of the session carries its sign-out form (an error page too).
    let page = tab.get("/_eyrie/p/acme/dg/web/d/shop/jobs/j1").await;
    let csrf = page.csrf();
    // The browser keeps its cookie: only the server's ending of the session may stop it.
    let session = tab.cookie.clone();
    let signed_out = tab.post("/_eyrie/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status, http::StatusCode::SEE_OTHER);
    tab.cookie = session;

    // At its next heartbeat the stream sees the session gone, says `end` and stops.
    let mut seen = Vec::new();
    let end = stream
        .until(&mut seen, "the end", |frame| frame.event == "end")
        .await;
    assert_eq!(end.data, "signed out");
    let after = tokio::time::timeout(LIVE_WAIT, stream.next())
        .await
        .unwrap();
    assert!(after.is_none(), "{after:?}");
    let (status, _) = events(&mut tab, GROUP_EVENTS, None).await;
    assert_eq!(status, http::StatusCode::UNAUTHORIZED);
}
