//! The web console (#18) in real headless Chromium, against the four services as separate
//! processes, on a simulated cluster (the runner plays the Kubernetes controllers, so the
//! built-in books of a `none` group run for a few seconds): a person signs in, creates a
//! deployment through the form (a field error shown, then fixed), deploys it, watches the card's
//! badge and the job's steps change live, pauses it, reads a new version and its diff; a viewer
//! sees no action; Drop is offered only where the scope allows it. axe-core finds no serious or
//! critical violation on any page, and every page is screenshot at a phone's and a desktop's
//! width (`target/screenshots/console_journey/`, `target/screenshots/console_roles/`).
//!
//! Live changes are recorded in the page itself (`eyrie_tests::console::LiveRecorder`, a
//! MutationObserver) with their times, which the test compares with the times of the job's
//! events: the latency from a job event to its appearance in the browser is printed.

use std::time::{Duration, Instant};

use eyrie_proto::v1::{self as pb, job_event::Kind};
use eyrie_tests::{
    Suite, SuiteConfig,
    browser::{self, Browser},
    console::{
        Control, LiveRecorder, Snapshot, check_page, controls, first_shown, sign_in, summary,
        timestamp_ms, watch_job_arrivals,
    },
    journey::{Gateway, check_succeeded},
};
use fantoccini::wd::WindowHandle;

const PROJECT: &str = "projects/acme";
const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const LEDGER: &str = "projects/acme/groups/web/deployments/ledger";
const GROUP_PAGE: &str = "/_eyrie/p/acme/dg/web";
const SHOP_PAGE: &str = "/_eyrie/p/acme/dg/web/d/shop";
const BLOG_PAGE: &str = "/_eyrie/p/acme/dg/web/d/blog";
const LEDGER_PAGE: &str = "/_eyrie/p/acme/dg/web/d/ledger";

/// Steps of the built-in `none` deploy book.
const DEPLOY_STEPS: usize = 4;

/// How long a live change may take to show, a job included, on a loaded machine.
const LIVE_WAIT: Duration = Duration::from_secs(30);

/// The simulated controllers take a step every 700 ms (250 ms by default): a `none` deploy's
/// rollout wait then runs about six seconds, long enough to look at the group page and follow
/// the badge to the job's page while the job still runs, on a loaded machine too.
const SLOW_CONTROLLERS: &str = "simulated_pass_interval = \"700ms\"";

#[tokio::test]
async fn a_deployment_is_created_deployed_watched_live_and_paused_in_the_browser() {
    let started = Instant::now();
    let Some(chromium) = browser::start_or_skip("console_journey").await else {
        return;
    };
    let Seeded { suite, api, base } = seeded().await;
    lap(started, "the suite runs");
    let mut journey = Journey::new(chromium, api, base, started).await;

    journey.sign_in_and_read(&suite.admin_token).await;
    journey.create_through_the_form().await;
    journey.deploy_and_follow_live().await;
    journey.pause_watched_on_the_group_page().await;
    journey.new_image_then_version_and_diff().await;
    journey.chromium.close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_sees_no_action_and_drop_is_offered_only_where_the_scope_allows_it() {
    let started = Instant::now();
    let Some(chromium) = browser::start_or_skip("console_roles").await else {
        return;
    };
    let Seeded {
        suite,
        mut api,
        base,
    } = seeded().await;
    create_deployment(&mut api, "shop", "Shop", "dev").await;
    create_deployment(&mut api, "blog", "Blog", "dev").await;
    create_deployment(&mut api, "ledger", "Ledger", "production").await;
    let viewer = api
        .create_token("viewer", PROJECT, pb::Role::Viewer)
        .await
        .unwrap();
    lap(started, "the suite runs");

    // An admin: no Drop in scope production, and the page says why.
    sign_in(&chromium, &base, &suite.admin_token).await.unwrap();
    chromium
        .goto(&format!("{base}{LEDGER_PAGE}"))
        .await
        .unwrap();
    chromium.find_by_role("heading", "Ledger").await.unwrap();
    let names = control_names(&chromium).await;
    assert!(names.contains(&"Deploy".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|name| name.starts_with("Drop")),
        "{names:?}"
    );
    chromium
        .wait_for_text("scope Production does not allow dropping")
        .await;
    check_page(&chromium, "deployment-no-drop").await.unwrap();
    // Nor by typing the address of its confirmation.
    chromium
        .goto(&format!("{base}{LEDGER_PAGE}/drop"))
        .await
        .unwrap();
    chromium.wait_for_text("does not allow dropping").await;
    assert!(control_names(&chromium).await.is_empty());
    lap(started, "no Drop in scope production");

    // In scope dev: Drop, its confirmation naming the deployment and asking for its id.
    chromium.goto(&format!("{base}{SHOP_PAGE}")).await.unwrap();
    chromium.find_by_role("heading", "Shop").await.unwrap();
    chromium.click_by_role("button", "Drop…").await.unwrap();
    chromium
        .find_by_role("heading", "Drop Shop?")
        .await
        .unwrap();
    check_page(&chromium, "drop-confirm").await.unwrap();
    let confirm = "Type the deployment's id, shop, to confirm";
    chromium.fill(confirm, "ledger").await.unwrap();
    chromium.click_by_role("button", "Drop Shop").await.unwrap();
    chromium.find("#confirm-error").await.unwrap();
    check_page(&chromium, "drop-confirm-error").await.unwrap();
    assert_eq!(
        api.deployment(SHOP).await.unwrap().state(),
        pb::DeploymentState::Draft
    );
    chromium.fill(confirm, "shop").await.unwrap();
    chromium.click_by_role("button", "Drop Shop").await.unwrap();
    let dropped = ended_operation(&mut api, SHOP, pb::OperationAction::Drop).await;
    assert_eq!(
        dropped.status(),
        pb::OperationStatus::Succeeded,
        "{dropped:?}"
    );
    chromium.goto(&format!("{base}{SHOP_PAGE}")).await.unwrap();
    chromium.wait_for_text("dropped").await;
    let after = controls(&chromium).await.unwrap();
    assert!(after.iter().all(|control| control.disabled), "{after:#?}");
    assert_eq!(
        api.deployment(LEDGER).await.unwrap().state(),
        pb::DeploymentState::Draft
    );
    lap(started, "dropped in scope dev");

    // A viewer: the same pages, no action at all, in either scope.
    chromium.goto(&format!("{base}/_eyrie/")).await.unwrap();
    chromium.click_by_role("button", "Sign out").await.unwrap();
    chromium.find_by_label("API token").await.unwrap();
    sign_in(&chromium, &base, &viewer).await.unwrap();
    chromium.goto(&format!("{base}{GROUP_PAGE}")).await.unwrap();
    chromium.find("#deployment-blog").await.unwrap();
    chromium.find("#deployment-ledger").await.unwrap();
    let text = chromium.text().await.unwrap();
    assert!(!text.contains("New deployment"), "{text}");
    assert_eq!(control_names(&chromium).await, Vec::<String>::new());
    check_page(&chromium, "group-viewer").await.unwrap();
    for (path, heading, shot) in [
        (BLOG_PAGE, "Blog", "deployment-viewer"),
        (LEDGER_PAGE, "Ledger", "deployment-viewer-production"),
    ] {
        chromium.goto(&format!("{base}{path}")).await.unwrap();
        chromium.find_by_role("heading", heading).await.unwrap();
        assert_eq!(
            control_names(&chromium).await,
            Vec::<String>::new(),
            "{path}"
        );
        assert!(
            !chromium.text().await.unwrap().contains("Actions"),
            "{path}"
        );
        check_page(&chromium, shot).await.unwrap();
    }
    // Nor by typing the addresses of Drop's confirmation or of the form.
    for path in [format!("{BLOG_PAGE}/drop"), format!("{GROUP_PAGE}/new")] {
        chromium.goto(&format!("{base}{path}")).await.unwrap();
        chromium.wait_for_text("admin role").await;
        assert!(control_names(&chromium).await.is_empty(), "{path}");
    }
    check_page(&chromium, "new-deployment-viewer")
        .await
        .unwrap();
    lap(started, "a viewer saw no action");
    chromium.close().await.unwrap();
}

/// The suite, an admin's API client, and the gateway's URL.
struct Seeded {
    suite: Suite,
    api: Gateway,
    base: String,
}

/// Project `acme` (Acme) with scopes `dev` (drop allowed) and `production` (drop refused), the
/// simulated directory cluster `sim` (Try-out) and group `web` of type `none` (built-in books).
async fn seeded() -> Seeded {
    let suite = Suite::start_with(SuiteConfig {
        runner: SLOW_CONTROLLERS.to_owned(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut api = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    api.create_project("acme", "Acme").await.unwrap();
    api.create_scope(PROJECT, "dev", "Dev", true).await.unwrap();
    api.create_scope(PROJECT, "production", "Production", false)
        .await
        .unwrap();
    let cluster = api.request(pb::CreateClusterRequest {
        parent: PROJECT.into(),
        cluster_id: "sim".into(),
        cluster: Some(pb::Cluster {
            display_name: "Try-out".into(),
            connection: Some(pb::cluster::Connection::Directory(
                pb::DirectoryConnection {
                    path: suite.clusters_dir().join("sim").display().to_string(),
                    simulated: true,
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_cluster(cluster).await.unwrap();
    api.create_group(PROJECT, "web", pb::DeploymentType::None)
        .await
        .unwrap();
    let base = suite.gateway.url();
    Seeded { suite, api, base }
}

/// Creates deployment `id` of group `web` in scope `scope` through the API (a draft).
async fn create_deployment(api: &mut Gateway, id: &str, display_name: &str, scope: &str) {
    let request = api.request(pb::CreateDeploymentRequest {
        parent: format!("{PROJECT}/groups/web"),
        deployment_id: id.into(),
        deployment: Some(pb::Deployment {
            display_name: display_name.into(),
            scope: format!("{PROJECT}/scopes/{scope}"),
            clusters: vec![format!("{PROJECT}/clusters/sim")],
            image: "nginx:1.27".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_deployment(request).await.unwrap();
}

/// One admin's journey in one browser with two windows: one acts (forms, buttons), the other
/// watches the group page, as a colleague's screen would.
struct Journey {
    chromium: Browser,
    api: Gateway,
    base: String,
    acting: WindowHandle,
    watching: WindowHandle,
    started: Instant,
}

impl Journey {
    async fn new(chromium: Browser, api: Gateway, base: String, started: Instant) -> Self {
        chromium.set_wait_timeout(LIVE_WAIT);
        let acting = chromium.client().window().await.unwrap();
        let watching = chromium.client().new_window(false).await.unwrap().handle;
        chromium
            .client()
            .switch_to_window(acting.clone())
            .await
            .unwrap();
        Self {
            chromium,
            api,
            base,
            acting,
            watching,
            started,
        }
    }

    /// Switches to the acting window.
    async fn act(&self) {
        let window = self.acting.clone();
        self.chromium
            .client()
            .switch_to_window(window)
            .await
            .unwrap();
    }

    /// Switches to the watching window.
    async fn watch(&self) {
        let window = self.watching.clone();
        self.chromium
            .client()
            .switch_to_window(window)
            .await
            .unwrap();
    }

    async fn goto(&self, path: &str) {
        self.chromium
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Signs in through the form, then reads the projects, the project, the empty group.
    async fn sign_in_and_read(&self, token: &str) {
        let chromium = &self.chromium;
        self.goto("/_eyrie/sign-in").await;
        chromium.find_by_label("API token").await.unwrap();
        check_page(chromium, "sign-in").await.unwrap();
        sign_in(chromium, &self.base, token).await.unwrap();
        check_page(chromium, "projects").await.unwrap();
        chromium.click_by_role("link", "Acme").await.unwrap();
        chromium.wait_for_text("Deployment groups").await;
        check_page(chromium, "project").await.unwrap();
        chromium.click_by_role("link", "web").await.unwrap();
        chromium
            .wait_for_text("No deployment in this group yet")
            .await;
        check_page(chromium, "group-empty").await.unwrap();
        lap(self.started, "signed in");
    }

    /// The New deployment form, from the group page's link: a wrong id is shown next to its
    /// field with what was typed kept; fixed, the deployment is created and its page shown.
    async fn create_through_the_form(&mut self) {
        let chromium = &self.chromium;
        chromium
            .click_by_role("link", "New deployment")
            .await
            .unwrap();
        chromium.find_by_label("Id (required)").await.unwrap();
        assert!(chromium.url().await.unwrap().ends_with("/dg/web/new"));
        check_page(chromium, "new-deployment").await.unwrap();
        chromium.fill("Id (required)", "Shop!").await.unwrap();
        chromium.fill("Display name", "Shop").await.unwrap();
        chromium
            .fill("Scope (required)", "Dev (drop allowed)")
            .await
            .unwrap();
        let cluster = chromium.find("#cluster-sim").await.unwrap();
        if !cluster.is_selected().await.unwrap() {
            cluster.click().await.unwrap();
        }
        chromium
            .fill("Image (required)", "nginx:1.27")
            .await
            .unwrap();
        chromium
            .click_by_role("button", "Create deployment")
            .await
            .unwrap();

        let error = chromium.find("#deployment_id-error").await.unwrap();
        let error = error.text().await.unwrap();
        assert!(error.contains("not a valid id"), "{error}");
        let id = chromium.find_by_label("Id (required)").await.unwrap();
        assert_eq!(
            id.attr("aria-invalid").await.unwrap().as_deref(),
            Some("true")
        );
        let described_by = id.attr("aria-describedby").await.unwrap();
        assert!(
            described_by.is_some_and(|ids| ids.contains("deployment_id-error")),
            "the error is not read with its field"
        );
        let image = chromium.find_by_label("Image (required)").await.unwrap();
        assert_eq!(
            image.prop("value").await.unwrap().as_deref(),
            Some("nginx:1.27")
        );
        chromium.find("[role=alert]").await.unwrap();
        check_page(chromium, "new-deployment-error").await.unwrap();
        println!("the form's field error: {error:?}");

        chromium.fill("Id (required)", "shop").await.unwrap();
        chromium
            .click_by_role("button", "Create deployment")
            .await
            .unwrap();
        chromium.find_by_role("heading", "Shop").await.unwrap();
        let url = chromium.url().await.unwrap();
        assert!(url.ends_with(SHOP_PAGE), "{url}");
        let created = self.api.deployment(SHOP).await.unwrap();
        assert_eq!(created.state(), pb::DeploymentState::Draft);
        assert_eq!(created.image, "nginx:1.27");
        assert_eq!(created.display_name, "Shop");

        // A draft: Deploy offered, Pause disabled with its reason, Drop offered (scope dev).
        assert!(!control(chromium, "Deploy").await.disabled);
        let pause = control(chromium, "Pause").await;
        assert!(pause.disabled, "{pause:?}");
        assert!(
            pause
                .description
                .contains("Only a deployed deployment can be paused"),
            "{pause:?}"
        );
        assert!(!control(chromium, "Drop…").await.disabled);
        check_page(chromium, "deployment-draft").await.unwrap();
        lap(self.started, "created through the form");
    }

    /// Deploy, with the group page open in the watching window: the card's badge appears and
    /// counts the job without a reload; it leads to the job's page, where the running step
    /// turns to succeeded live, its log tail showing meanwhile. Prints the latencies.
    async fn deploy_and_follow_live(&mut self) {
        let chromium = self.chromium.clone();
        self.watch().await;
        self.goto(GROUP_PAGE).await;
        chromium.find("#deployment-shop").await.unwrap();
        let card = LiveRecorder::start(&chromium, "#deployment-shop")
            .await
            .unwrap();
        assert!(!chromium.text().await.unwrap().contains("running job"));

        self.act().await;
        chromium.click_by_role("button", "Deploy").await.unwrap();
        self.watch().await;
        // Read within the wait: the card is re-rendered as the operation moves, so an element
        // found may be gone a moment later.
        let badge = chromium
            .wait_for("the card's running-jobs badge", |page| async move {
                let links = page.find_all("#deployment-shop a[href*='/jobs/']").await?;
                match links.into_iter().next() {
                    Some(link) => Ok(Some(link.text().await?)),
                    None => Ok(None),
                }
            })
            .await;
        assert!(badge.contains("1 running job"), "{badge:?}");
        // `snapshots` fails if the page was reloaded or left.
        let card_snapshots = card.snapshots(&chromium).await.unwrap();
        lap(self.started, "deploying: the badge showed");
        chromium.screenshot("group-live").await.unwrap();
        chromium.assert_no_serious_violations().await;

        // The badge leads to the job running now: the deploy job (initialize takes tens of
        // milliseconds, deploy seconds), once the card links to it.
        let operation = self.api.deployment(SHOP).await.unwrap().last_operation;
        let operation = operation.expect("the Deploy's operation").name;
        let operation = self.api.operation_with_job(&operation, 1).await.unwrap();
        let [initialize_job, deploy_job] = operation.jobs.as_slice() else {
            panic!("not an initialize and a deploy job: {operation:#?}");
        };
        // The test follows the job through the API too, for the first part of the latency.
        let arrivals = tokio::spawn(watch_job_arrivals(
            self.api.clone(),
            deploy_job.clone(),
            LIVE_WAIT,
        ));
        let job_path = format!("{SHOP_PAGE}/jobs/{}", id_of(deploy_job));
        chromium
            .click(&format!("#deployment-shop a[href='{job_path}']"))
            .await
            .unwrap();
        chromium.find("#job-status").await.unwrap();
        assert!(chromium.url().await.unwrap().ends_with(&job_path));
        let job_page = LiveRecorder::start(&chromium, "#job-status, tr[id^='step-'], #log")
            .await
            .unwrap();

        let running_step = chromium
            .wait_for("a running step", |page| async move {
                for row in page.find_all("tr[id^='step-']").await? {
                    if says(Some(&row.text().await?), "running") {
                        return Ok(Some(row.attr("id").await?.unwrap_or_default()));
                    }
                }
                Ok(None)
            })
            .await;
        chromium.screenshot("job-running").await.unwrap();
        chromium.assert_no_serious_violations().await;
        chromium
            .wait_for("the job to succeed", |page| async move {
                let status = page.find("#job-status").await?.text().await?;
                Ok(says(Some(&status), "succeeded").then_some(()))
            })
            .await;
        let snapshots = job_page.snapshots(&chromium).await.unwrap();
        let arrivals = arrivals.await.unwrap().unwrap();
        let events: Vec<pb::JobEvent> = arrivals.iter().map(|(event, _)| event.clone()).collect();
        check_succeeded(&events, DEPLOY_STEPS).unwrap();
        let last = snapshots.last().unwrap();
        for index in 0..DEPLOY_STEPS {
            let id = format!("step-{index}");
            assert!(says(last.text_of(&id), "succeeded"), "{id}: {last:?}");
        }
        // The step seen running turned to succeeded in the page itself, without a reload.
        let running = first_shown(&snapshots, |s| says(s.text_of(&running_step), "running"));
        let succeeded = first_shown(&snapshots, |s| says(s.text_of(&running_step), "succeeded"));
        assert!(
            running.zip(succeeded).is_some_and(|(r, s)| r < s),
            "{running_step} was not recorded running, then succeeded: {snapshots:#?}"
        );
        assert!(
            snapshots.iter().any(|s| s
                .text_of("log")
                .is_some_and(|log| log.contains("[simulated]"))),
            "the running step's log tail never showed"
        );
        print_job_page_latencies(&arrivals, &snapshots);
        check_page(&chromium, "job").await.unwrap();

        let initialize = self.api.watch_job(initialize_job).await.unwrap();
        let queued = event_time(&initialize, |kind| matches!(kind, Kind::JobQueued(_)));
        let badge_shown = first_shown(&card_snapshots, |s| {
            s.text_of("deployment-shop")
                .is_some_and(|text| text.contains("1 running job"))
        })
        .expect("the badge recorded");
        println!(
            "latency, Deploy's first job queued → badge on the card: {:.0} ms",
            badge_shown - queued
        );
        lap(self.started, "deployed: every step shown succeeded");
    }

    /// Pause from the deployment's page, with the group page open in the watching window: the
    /// badge comes and goes, the card says paused, without a reload. Prints the latencies.
    async fn pause_watched_on_the_group_page(&mut self) {
        let chromium = self.chromium.clone();
        self.goto(GROUP_PAGE).await;
        chromium
            .wait_for("the card without a badge", |page| async move {
                let badges = page.find_all("#deployment-shop .jobs").await?;
                Ok(badges.is_empty().then_some(()))
            })
            .await;
        let card = LiveRecorder::start(&chromium, "#deployment-shop")
            .await
            .unwrap();

        self.act().await;
        self.goto(SHOP_PAGE).await;
        chromium.wait_for_text("deployed").await;
        assert!(!control(&chromium, "Pause").await.disabled);
        check_page(&chromium, "deployment-deployed").await.unwrap();
        chromium.click_by_role("button", "Pause").await.unwrap();
        self.watch().await;
        chromium
            .wait_for("the card to say paused", |page| async move {
                let text = page.find("#deployment-shop").await?.text().await?;
                Ok((text.contains("paused") && !text.contains("running job")).then_some(()))
            })
            .await;
        let with_badge = |s: &Snapshot| {
            s.text_of("deployment-shop")
                .is_some_and(|text| text.contains("1 running job"))
        };
        // The recorder reads the card at each change of the page, in the page's own time: wait
        // until its readings show the badge come and go (bounded), not for one reading to.
        let deadline = Instant::now() + LIVE_WAIT;
        let snapshots = loop {
            let snapshots = card.snapshots(&chromium).await.unwrap();
            let came_and_went = first_shown(&snapshots, with_badge)
                .is_some_and(|shown| snapshots.iter().any(|s| s.at > shown && !with_badge(s)));
            if came_and_went || Instant::now() > deadline {
                break snapshots;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let stream = card.stream_log(&chromium).await.unwrap();
        let operation = ended_operation(&mut self.api, SHOP, pb::OperationAction::Pause).await;
        assert_eq!(operation.status(), pb::OperationStatus::Succeeded);
        let events = self.api.watch_job(&operation.jobs[0]).await.unwrap();
        let queued = event_time(&events, |kind| matches!(kind, Kind::JobQueued(_)));
        let ended = event_time(&events, |kind| matches!(kind, Kind::JobEnded(_)));
        let badge_shown = first_shown(&snapshots, with_badge).unwrap_or_else(|| {
            panic!(
                "no badge while pausing (job queued at {queued:.0}): {snapshots:#?}\n\
                 the page's stream: {stream:#?}"
            )
        });
        let later: Vec<Snapshot> = snapshots
            .into_iter()
            .filter(|s| s.at > badge_shown)
            .collect();
        let badge_gone = first_shown(&later, |s| !with_badge(s)).unwrap_or_else(|| {
            panic!("the badge stayed in the recorder's readings: {later:#?}\nthe page's stream: {stream:#?}")
        });
        println!(
            "latency, Pause's job queued → badge on the card: {:.0} ms; job ended → badge gone: \
             {:.0} ms",
            badge_shown - queued,
            badge_gone - ended
        );
        check_page(&chromium, "group").await.unwrap();
        lap(self.started, "paused");
    }

    /// A new image through the API: the deployment's page, read again, lists version 2, and
    /// the diff of versions 1 and 2 names the image.
    async fn new_image_then_version_and_diff(&mut self) {
        let chromium = self.chromium.clone();
        let shop = self.api.deployment(SHOP).await.unwrap();
        let update = self.api.request(pb::UpdateDeploymentRequest {
            deployment: Some(pb::Deployment {
                name: SHOP.into(),
                image: "nginx:1.28".into(),
                etag: shop.etag,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["image".into()],
            }),
            ..Default::default()
        });
        self.api
            .deployments
            .update_deployment(update)
            .await
            .unwrap();
        self.act().await;
        self.goto(SHOP_PAGE).await;
        // Versions are recorded asynchronously: read the page again until version 2 is there.
        chromium
            .wait_for("version 2 in the history", |page| async move {
                page.client().refresh().await?;
                let versions = page.find("[aria-label=Versions]").await?.text().await?;
                Ok(versions
                    .lines()
                    .any(|line| line.starts_with('2'))
                    .then_some(()))
            })
            .await;
        chromium.fill("From version", "1").await.unwrap();
        chromium.fill("to version", "2").await.unwrap();
        chromium.click_by_role("button", "Compare").await.unwrap();
        chromium.wait_for_text("Version 1 → version 2").await;
        let diff = chromium
            .find("[aria-label='Changed fields']")
            .await
            .unwrap();
        let diff = diff.text().await.unwrap();
        for text in ["image", "nginx:1.27", "nginx:1.28"] {
            assert!(diff.contains(text), "{text}: {diff}");
        }
        check_page(&chromium, "deployment-diff").await.unwrap();
        lap(self.started, "version 2 and its diff shown");
    }
}

/// Prints the latency from each job event that happened while the job's page was open to the
/// page showing it, log lines apart from step and job ends; and its two parts: to the event's
/// arrival in this test through the API's WatchJob, and from there to the browser.
fn print_job_page_latencies(arrivals: &[(pb::JobEvent, f64)], snapshots: &[Snapshot]) {
    let opened = snapshots[0].at;
    let log_at_open = snapshots[0].text_of("log").unwrap_or_default().to_owned();
    let shown: Vec<(bool, f64, f64, f64)> = arrivals
        .iter()
        .filter_map(|(event, arrived)| {
            let happened = timestamp_ms(event.time.as_ref()?);
            if happened <= opened {
                return None;
            }
            let (is_log, seen) = match event.kind.as_ref()? {
                Kind::StepSucceeded(done) => {
                    let id = format!("step-{}", done.step_index);
                    (
                        false,
                        first_shown(snapshots, |s| says(s.text_of(&id), "succeeded")),
                    )
                }
                Kind::StepLog(log) if !log_at_open.contains(&log.line) => (
                    true,
                    first_shown(snapshots, |s| {
                        s.text_of("log")
                            .is_some_and(|text| text.contains(&log.line))
                    }),
                ),
                Kind::JobEnded(_) => (
                    false,
                    first_shown(snapshots, |s| says(s.text_of("job-status"), "succeeded")),
                ),
                _ => return None,
            };
            let seen = seen.unwrap_or_else(|| panic!("the page never showed {event:?}"));
            Some((is_log, happened, *arrived, seen))
        })
        .collect();
    assert!(
        !shown.is_empty(),
        "no event happened while the page was open"
    );
    for (what, logs) in [("log lines", true), ("step and job ends", false)] {
        let of_kind: Vec<_> = shown
            .iter()
            .filter(|(is_log, ..)| *is_log == logs)
            .collect();
        let part = |f: fn(f64, f64, f64) -> f64| -> Vec<f64> {
            of_kind
                .iter()
                .map(|(_, happened, arrived, seen)| f(*happened, *arrived, *seen))
                .collect()
        };
        println!(
            "latency of {what}, job event (its time at the runner) → shown on the job page: {}\n  \
             the same events through this test's own WatchJob: event → received {}; received \
             → shown in the browser {} (two streams: may be negative)",
            summary(&part(|happened, _, seen| seen - happened)),
            summary(&part(|happened, arrived, _| arrived - happened)),
            summary(&part(|_, arrived, seen| seen - arrived)),
        );
    }
}

/// The names of the page's action controls (buttons, and links styled as buttons).
async fn control_names(browser: &Browser) -> Vec<String> {
    controls(browser)
        .await
        .unwrap()
        .into_iter()
        .map(|control| control.name)
        .collect()
}

/// The control named `name`, which must be there.
async fn control(browser: &Browser, name: &str) -> Control {
    let found = controls(browser).await.unwrap();
    found
        .iter()
        .find(|control| control.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no control named {name:?} among {found:#?}"))
}

/// The deployment's last operation, once it is one of `action` (the browser's post may still be
/// on its way) and has ended.
async fn ended_operation(
    api: &mut Gateway,
    deployment: &str,
    action: pb::OperationAction,
) -> pb::Operation {
    let deadline = Instant::now() + LIVE_WAIT;
    let name = loop {
        let last = api.deployment(deployment).await.unwrap().last_operation;
        match last {
            Some(operation) if operation.action() == action => break operation.name,
            last => assert!(
                Instant::now() < deadline,
                "no {action:?} operation on {deployment}; the last is {last:#?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    api.ended(&name).await.unwrap()
}

/// When (ms since the epoch) the first of `events` of the kind `wanted` looks for happened.
fn event_time(events: &[pb::JobEvent], wanted: impl Fn(&Kind) -> bool) -> f64 {
    let event = events
        .iter()
        .find(|event| event.kind.as_ref().is_some_and(&wanted))
        .unwrap_or_else(|| panic!("no such event among {events:#?}"));
    timestamp_ms(event.time.as_ref().expect("an event time"))
}

/// Whether `text` (a step row's, the job status's) says `status` ("running", "succeeded").
fn says(text: Option<&str>, status: &str) -> bool {
    text.is_some_and(|text| text.split_whitespace().any(|word| word == status))
}

/// The last segment of a resource name.
fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Prints how long the test has run, and what it did.
fn lap(started: Instant, what: &str) {
    println!("{:>5.1} s  {what}", started.elapsed().as_secs_f64());
}
