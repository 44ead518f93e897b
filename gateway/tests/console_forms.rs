//! The web console's forms (#18): New deployment, and Deploy, Pause and Drop on a deployment's
//! page, driven over plain HTTP/1.1 as a browser would, against the whole suite; what they did
//! is checked through the API.

#[allow(dead_code)]
mod console_support;

use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, journey::Gateway};

use console_support::{Browser, Via, create_simulated_cluster};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const KEEP: &str = "projects/acme/groups/web/deployments/keep";
const SHOP_PAGE: &str = "/_eyrie/p/acme/dg/web/d/shop";
const KEEP_PAGE: &str = "/_eyrie/p/acme/dg/web/d/keep";

/// The suite with project `acme`: scopes `dev` (drop allowed) and `prod` (not), the directory
/// cluster `local` and the simulated `sim`, group `web` (type none) with deployments `shop`
/// (in dev) and `keep` (in prod), and the odoo group `erp`, whose books require parameters.
async fn seeded() -> (Suite, Gateway) {
    let suite = Suite::start().await.unwrap();
    let mut api = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    api.create_shop("acme", "Acme", &suite.clusters_dir())
        .await
        .unwrap();
    api.create_scope("projects/acme", "prod", "Production", false)
        .await
        .unwrap();
    create_simulated_cluster(&suite, &mut api).await;
    api.create_group("projects/acme", "erp", pb::DeploymentType::Odoo)
        .await
        .unwrap();
    let keep = api.request(pb::CreateDeploymentRequest {
        parent: "projects/acme/groups/web".into(),
        deployment_id: "keep".into(),
        deployment: Some(pb::Deployment {
            display_name: "Keep".into(),
            scope: "projects/acme/scopes/prod".into(),
            clusters: vec!["projects/acme/clusters/sim".into()],
            image: "nginx:1.27".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    api.deployments.create_deployment(keep).await.unwrap();
    (suite, api)
}

/// The operations of deployment `name`, newest first.
async fn operations(api: &mut Gateway, name: &str) -> Vec<pb::Operation> {
    let request = api.request(pb::ListOperationsRequest {
        parent: name.into(),
        ..Default::default()
    });
    api.deployments
        .list_operations(request)
        .await
        .unwrap()
        .into_inner()
        .operations
}

/// Whether deployment `name` exists.
async fn exists(api: &mut Gateway, name: &str) -> bool {
    match api.deployment(name).await {
        Ok(_) => true,
        Err(err) => {
            let status = err.downcast::<tonic::Status>().unwrap();
            assert_eq!(status.code(), tonic::Code::NotFound, "{status}");
            false
        }
    }
}

#[tokio::test]
async fn the_form_offers_scopes_clusters_and_the_books_parameters_required_first_with_defaults() {
    let (suite, _api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;

    let group = admin.get("/_eyrie/p/acme/dg/erp").await;
    group.assert_contains(&[r#"<a href="/_eyrie/p/acme/dg/erp/new">New deployment</a>"#]);
    let form = admin.get("/_eyrie/p/acme/dg/erp/new").await;
    assert_eq!(form.status, http::StatusCode::OK, "{}", form.body);
    form.assert_contains(&[
        r#"<form method="post" action="/_eyrie/p/acme/dg/erp/new""#,
        r#"name="csrf" value=""#,
        r#"name="request_id" value=""#,
        r#"<option value="dev">Dev (drop allowed)</option>"#,
        r#"<option value="prod">Production (drop not allowed)</option>"#,
        r#"id="cluster-local" name="cluster" value="local""#,
        r#"id="cluster-sim" name="cluster" value="sim""#,
        "simulated",
        // Every parameter the four odoo books declare, the required ones marked.
        r#"<label for="param-host">host <span class="required">(required)</span></label>"#,
        r#"<label for="param-db_host">db_host <span class="required">(required)</span></label>"#,
        r#"<label for="param-db_port">db_port</label>"#,
        r#"placeholder="5432""#,
        "Default: 5432.",
        r#"<label for="param-filestore_size">filestore_size</label>"#,
        "Default: 10Gi.",
        r#"aria-describedby="param-db_port-hint""#,
        // Repository and branch are required in an odoo group.
        r#"<label for="repository">Repository <span class="required">(required)</span></label>"#,
    ]);
    let host = form.body.find(r#"id="param-host""#).unwrap();
    let port = form.body.find(r#"id="param-db_port""#).unwrap();
    assert!(host < port, "required parameters come first");
    form.assert_lacks(&["param-host-error", "aria-invalid"]);

    // A group of type none takes the none books' parameters, none required.
    let web = admin.get("/_eyrie/p/acme/dg/web/new").await;
    assert_eq!(web.status, http::StatusCode::OK);
    web.assert_contains(&[
        r#"<label for="param-replicas">replicas</label>"#,
        "Default: 8080.",
    ]);
    web.assert_lacks(&[r#"<label for="param-replicas">replicas <span"#]);
}

#[tokio::test]
async fn a_refused_create_shows_each_field_error_next_to_its_field_and_keeps_what_was_typed() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let form = admin.get("/_eyrie/p/acme/dg/web/new").await;
    let csrf = form.csrf();

    // A bad image: the API's own violation, next to the image field.
    let refused = admin
        .post(
            "/_eyrie/p/acme/dg/web/new",
            &[
                ("csrf", &csrf),
                ("deployment_id", "cart"),
                ("display_name", "Cart <b>&"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("image", "Not An Image"),
                ("param.replicas", "3"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        refused.body
    );
    refused.assert_contains(&[
        r#"id="error-summary""#,
        r##"<a href="#image">Image: "##,
        r#"<p class="field-error" id="image-error">"#,
        r#"aria-describedby="image-hint image-error" aria-invalid="true""#,
        // What was typed is kept, escaped.
        r#"value="Not An Image""#,
        r#"value="cart""#,
        "Cart &#60;b&#62;&#38;",
        r#"value="3""#,
        r#"<option value="dev" selected>"#,
        r#"value="sim" checked"#,
    ]);
    refused.assert_lacks(&["<b>&", r#"id="display_name-error""#]);
    assert!(!exists(&mut api, "projects/acme/groups/web/deployments/cart").await);

    // In the odoo group: the required parameters left empty, each named next to its field.
    let missing = admin
        .post(
            "/_eyrie/p/acme/dg/erp/new",
            &[
                ("csrf", &csrf),
                ("deployment_id", "books"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("repository", "https://git.example.com/erp.git"),
                ("branch", "main"),
                ("image", "odoo:18.0"),
                ("param.host", "erp.example.com"),
                ("param.db_port", ""),
            ],
        )
        .await;
    assert_eq!(
        missing.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        missing.body
    );
    missing.assert_contains(&[
        r#"<p class="field-error" id="param-db_host-error">"#,
        "is required by books/odoo-initialize and books/odoo-deploy",
        r#"id="param-db_user-error""#,
        r##"<a href="#param-db_host">db_host: "##,
        r#"value="erp.example.com""#,
        r#"value="https://git.example.com/erp.git""#,
    ]);
    missing.assert_lacks(&[r#"id="param-host-error""#, r#"id="param-db_port-error""#]);

    // Every parameter given, the repository left out: the API's "required" for an odoo group.
    let no_repository = admin
        .post(
            "/_eyrie/p/acme/dg/erp/new",
            &[
                ("csrf", &csrf),
                ("deployment_id", "books"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("branch", "main"),
                ("image", "odoo:18.0"),
                ("param.host", "erp.example.com"),
                ("param.db_host", "db"),
                ("param.db_user", "odoo"),
                ("param.db_password_secret", "db-pguser-odoo"),
            ],
        )
        .await;
    assert_eq!(no_repository.status, http::StatusCode::BAD_REQUEST);
    no_repository.assert_contains(&[
        r#"<p class="field-error" id="repository-error">"#,
        "is required for a deployment of a odoo group",
        r#"aria-describedby="repository-hint repository-error" aria-invalid="true""#,
        r#"value="db-pguser-odoo""#,
    ]);
    assert!(!exists(&mut api, "projects/acme/groups/erp/deployments/books").await);

    // No scope, no cluster: both named.
    let nowhere = admin
        .post(
            "/_eyrie/p/acme/dg/web/new",
            &[
                ("csrf", &csrf),
                ("deployment_id", "cart"),
                ("image", "nginx:1"),
            ],
        )
        .await;
    assert_eq!(nowhere.status, http::StatusCode::BAD_REQUEST);
    nowhere.assert_contains(&[r#"id="scope-error""#, r#"id="clusters-error""#]);
}

#[tokio::test]
async fn a_good_create_makes_the_deployment_as_typed_and_a_taken_id_is_refused() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let form = admin.get("/_eyrie/p/acme/dg/web/new").await;
    let csrf = form.csrf();
    let request_id = form.field_after("<form", "request_id");

    let created = admin
        .post(
            "/_eyrie/p/acme/dg/web/new",
            &[
                ("csrf", &csrf),
                ("request_id", &request_id),
                ("deployment_id", "cart"),
                ("display_name", "Cart"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("cluster", "local"),
                ("image", "nginx:1.27"),
                ("commit_ref", "abc123"),
                ("param.replicas", "2"),
                ("param.port", ""),
            ],
        )
        .await;
    assert_eq!(
        created.status,
        http::StatusCode::SEE_OTHER,
        "{}",
        created.body
    );
    assert_eq!(created.location(), "/_eyrie/p/acme/dg/web/d/cart");
    let cart = api
        .deployment("projects/acme/groups/web/deployments/cart")
        .await
        .unwrap();
    assert_eq!(cart.display_name, "Cart");
    assert_eq!(cart.scope, "projects/acme/scopes/dev");
    assert_eq!(
        cart.clusters,
        vec!["projects/acme/clusters/sim", "projects/acme/clusters/local"]
    );
    assert_eq!(cart.image, "nginx:1.27");
    assert_eq!(cart.commit_ref, "abc123");
    assert_eq!(cart.state(), pb::DeploymentState::Draft);
    assert_eq!(
        cart.parameters.into_iter().collect::<Vec<_>>(),
        vec![("replicas".to_owned(), "2".to_owned())],
        "an empty parameter is not sent"
    );
    let page = admin.get(created.location()).await;
    assert_eq!(page.status, http::StatusCode::OK);

    // The same id again, from a fresh form: taken.
    let again = admin.get("/_eyrie/p/acme/dg/web/new").await;
    let taken = admin
        .post(
            "/_eyrie/p/acme/dg/web/new",
            &[
                ("csrf", &csrf),
                ("request_id", &again.field_after("<form", "request_id")),
                ("deployment_id", "cart"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("image", "nginx:1.28"),
            ],
        )
        .await;
    assert_eq!(taken.status, http::StatusCode::CONFLICT, "{}", taken.body);
    taken.assert_contains(&[
        r#"id="deployment_id-error""#,
        "is taken",
        r#"value="nginx:1.28""#,
    ]);
    let cart = api
        .deployment("projects/acme/groups/web/deployments/cart")
        .await
        .unwrap();
    assert_eq!(cart.image, "nginx:1.27", "the first one is left alone");
}

#[tokio::test]
async fn forged_posts_are_refused_and_change_nothing() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let csrf = admin.get("/_eyrie/").await.csrf();
    let create = [
        ("deployment_id", "forged"),
        ("scope", "dev"),
        ("cluster", "sim"),
        ("image", "nginx:1"),
    ];
    for (what, token, via) in [
        ("no token", None, Via::Console),
        ("a wrong token", Some("not-the-token"), Via::Console),
        (
            "another site's origin",
            Some(csrf.as_str()),
            Via::Origin("https://evil.example.com"),
        ),
        (
            "a cross-site fetch",
            Some(csrf.as_str()),
            Via::FetchSite("cross-site"),
        ),
        ("no token, no origin", None, Via::Nowhere),
    ] {
        let with_token = |fields: &[(&'static str, &'static str)]| {
            let mut all: Vec<(&str, &str)> = fields.to_vec();
            if let Some(token) = token {
                all.push(("csrf", token));
            }
            all
        };
        for (path, fields) in [
            ("/_eyrie/p/acme/dg/web/new".to_owned(), with_token(&create)),
            (
                format!("{SHOP_PAGE}/deploy"),
                with_token(&[("request_id", "forged-1")]),
            ),
            (
                format!("{SHOP_PAGE}/drop"),
                with_token(&[("confirm", "shop")]),
            ),
        ] {
            let page = admin.post_via(&path, &fields, via).await;
            assert_eq!(
                page.status,
                http::StatusCode::FORBIDDEN,
                "{what} to {path}: {}",
                page.body
            );
        }
    }
    assert!(!exists(&mut api, "projects/acme/groups/web/deployments/forged").await);
    assert!(operations(&mut api, SHOP).await.is_empty());
    assert_eq!(
        api.deployment(SHOP).await.unwrap().state(),
        pb::DeploymentState::Draft
    );
}

#[tokio::test]
async fn a_viewer_sees_no_action_and_its_posts_are_refused_a_deployer_may_not_drop() {
    let (suite, mut api) = seeded().await;
    let viewer = api
        .create_token("viewer", "projects/acme", pb::Role::Viewer)
        .await
        .unwrap();
    let deployer = api
        .create_token("deployer", "projects/acme", pb::Role::Deployer)
        .await
        .unwrap();

    let mut browser = Browser::signed_in(suite.gateway.url(), &viewer).await;
    let detail = browser.get(SHOP_PAGE).await;
    assert_eq!(detail.status, http::StatusCode::OK, "{}", detail.body);
    detail.assert_lacks(&[
        "actions-heading",
        "/deploy\"",
        "/pause\"",
        "/drop\"",
        "request_id",
    ]);
    let group = browser.get("/_eyrie/p/acme/dg/web").await;
    group.assert_lacks(&["/_eyrie/p/acme/dg/web/new"]);
    let form = browser.get("/_eyrie/p/acme/dg/web/new").await;
    assert_eq!(form.status, http::StatusCode::FORBIDDEN, "{}", form.body);
    let csrf = detail.csrf();
    for (path, fields) in [
        (
            format!("{SHOP_PAGE}/deploy"),
            vec![("csrf", csrf.as_str()), ("request_id", "r1")],
        ),
        (
            format!("{SHOP_PAGE}/pause"),
            vec![("csrf", csrf.as_str()), ("request_id", "r2")],
        ),
        (
            format!("{SHOP_PAGE}/drop"),
            vec![("csrf", csrf.as_str()), ("confirm", "shop")],
        ),
        (
            "/_eyrie/p/acme/dg/web/new".to_owned(),
            vec![
                ("csrf", csrf.as_str()),
                ("deployment_id", "viewed"),
                ("scope", "dev"),
                ("cluster", "sim"),
                ("image", "nginx:1"),
            ],
        ),
    ] {
        let page = browser.post(&path, &fields).await;
        assert_eq!(
            page.status,
            http::StatusCode::FORBIDDEN,
            "{path}: {}",
            page.body
        );
    }
    assert_eq!(
        browser.get(&format!("{SHOP_PAGE}/drop")).await.status,
        http::StatusCode::FORBIDDEN
    );
    assert!(operations(&mut api, SHOP).await.is_empty());
    assert!(!exists(&mut api, "projects/acme/groups/web/deployments/viewed").await);

    // A deployer: Deploy offered, Pause not from draft, Drop disabled for its role.
    let mut browser = Browser::signed_in(suite.gateway.url(), &deployer).await;
    let detail = browser.get(SHOP_PAGE).await;
    detail.assert_contains(&[
        r#"<h2 id="actions-heading">Actions</h2>"#,
        r#"<button type="submit" id="deploy-button" aria-describedby="deploy-why">Deploy</button>"#,
        r#"<button type="submit" id="pause-button" aria-describedby="pause-why" disabled>Pause</button>"#,
        "Only a deployed deployment can be paused; this one is draft.",
        r#"<button type="submit" id="drop-button" aria-describedby="drop-why" disabled>Drop…</button>"#,
        "Drop needs the admin role on this project.",
    ]);
    // Creating deployments needs admin: no link, no form.
    let group = browser.get("/_eyrie/p/acme/dg/web").await;
    group.assert_lacks(&["/_eyrie/p/acme/dg/web/new"]);
    let form = browser.get("/_eyrie/p/acme/dg/web/new").await;
    assert_eq!(form.status, http::StatusCode::FORBIDDEN, "{}", form.body);
    assert!(form.body.contains("admin role"), "{}", form.body);
    let csrf = detail.csrf();
    let drop = browser
        .post(
            &format!("{SHOP_PAGE}/drop"),
            &[("csrf", &csrf), ("confirm", "shop")],
        )
        .await;
    assert_eq!(drop.status, http::StatusCode::FORBIDDEN);
    assert!(operations(&mut api, SHOP).await.is_empty());
}

#[tokio::test]
async fn deploy_runs_once_per_form_and_a_refused_pause_shows_the_api_message() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let detail = admin.get(KEEP_PAGE).await;
    let csrf = detail.csrf();
    let action = format!(r#"action="{KEEP_PAGE}/pause""#);
    let pause_id = detail.field_after(&action, "request_id");

    // Pause from draft: the button says no, and the API too, on the deployment's page.
    let refused = admin
        .post(
            &format!("{KEEP_PAGE}/pause"),
            &[("csrf", &csrf), ("request_id", &pause_id)],
        )
        .await;
    assert_eq!(
        refused.status,
        http::StatusCode::CONFLICT,
        "{}",
        refused.body
    );
    refused.assert_contains(&[
        r#"id="action-refused""#,
        "Pause was refused:",
        "cannot pause a deployment in state draft",
        r#"<h2 id="fields-heading">Fields</h2>"#,
    ]);
    assert!(operations(&mut api, KEEP).await.is_empty());

    // Deploy, submitted twice from the same form: one operation.
    let deploy_id = detail.field_after(&format!(r#"action="{KEEP_PAGE}/deploy""#), "request_id");
    assert_ne!(deploy_id, pause_id, "each form has its own request id");
    for _ in 0..2 {
        let deployed = admin
            .post(
                &format!("{KEEP_PAGE}/deploy"),
                &[("csrf", &csrf), ("request_id", &deploy_id)],
            )
            .await;
        assert_eq!(
            deployed.status,
            http::StatusCode::SEE_OTHER,
            "{}",
            deployed.body
        );
        assert!(
            deployed
                .location()
                .starts_with(&format!("{KEEP_PAGE}/jobs/")),
            "to the running job's page: {}",
            deployed.location()
        );
        let job = admin.get(deployed.location()).await;
        assert_eq!(job.status, http::StatusCode::OK, "{}", job.body);
    }
    let listed = operations(&mut api, KEEP).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].action(), pb::OperationAction::Deploy);
    assert_eq!(listed[0].request_id, deploy_id);
    let ended = api.ended(&listed[0].name).await.unwrap();
    assert_eq!(ended.status(), pb::OperationStatus::Succeeded, "{ended:?}");

    // Deployed now: Pause is offered, and a fresh form has a fresh request id.
    let detail = admin.get(KEEP_PAGE).await;
    detail.assert_contains(&[
        r#"<button type="submit" id="pause-button" aria-describedby="pause-why">Pause</button>"#,
    ]);
    assert_ne!(
        detail.field_after(&format!(r#"action="{KEEP_PAGE}/deploy""#), "request_id"),
        deploy_id
    );
}

#[tokio::test]
async fn drop_is_absent_where_the_scope_forbids_it_and_its_post_is_refused() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let detail = admin.get(KEEP_PAGE).await;
    assert_eq!(detail.status, http::StatusCode::OK);
    detail.assert_contains(&[
        r#"id="deploy-button""#,
        "Drop is not offered: scope Production does not allow dropping its deployments.",
    ]);
    detail.assert_lacks(&[
        r#"id="drop-button""#,
        &format!(r#"action="{KEEP_PAGE}/drop""#),
    ]);
    let confirm = admin.get(&format!("{KEEP_PAGE}/drop")).await;
    assert_eq!(
        confirm.status,
        http::StatusCode::CONFLICT,
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("does not allow dropping"));

    let csrf = detail.csrf();
    let refused = admin
        .post(
            &format!("{KEEP_PAGE}/drop"),
            &[
                ("csrf", &csrf),
                ("confirm", "keep"),
                ("request_id", "drop-1"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        http::StatusCode::CONFLICT,
        "{}",
        refused.body
    );
    refused.assert_contains(&["Drop was refused:", "does not allow Drop"]);
    assert!(operations(&mut api, KEEP).await.is_empty());
    assert_eq!(
        api.deployment(KEEP).await.unwrap().state(),
        pb::DeploymentState::Draft
    );
}

#[tokio::test]
async fn the_drop_confirmation_names_the_deployment_and_needs_its_id_typed() {
    let (suite, mut api) = seeded().await;
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let detail = admin.get(SHOP_PAGE).await;
    detail.assert_contains(&[
        &format!(r#"<form method="get" action="{SHOP_PAGE}/drop" class="action">"#),
        r#"<button type="submit" id="drop-button" aria-describedby="drop-why">Drop…</button>"#,
    ]);

    let confirm = admin.get(&format!("{SHOP_PAGE}/drop")).await;
    assert_eq!(confirm.status, http::StatusCode::OK, "{}", confirm.body);
    confirm.assert_contains(&[
        "<h1>Drop Shop?</h1>",
        "<strong>Shop</strong> (id <code>shop</code>)",
        "in scope\n  <strong>Dev</strong>",
        "books/none-drop",
        r#"<label for="confirm">Type the deployment's id, <code>shop</code>, to confirm</label>"#,
        &format!(r#"<form method="post" action="{SHOP_PAGE}/drop""#),
    ]);
    let csrf = confirm.csrf();
    let request_id = confirm.field_after("<form method=\"post\" action", "request_id");

    let wrong = admin
        .post(
            &format!("{SHOP_PAGE}/drop"),
            &[
                ("csrf", &csrf),
                ("request_id", &request_id),
                ("confirm", "Shop"),
            ],
        )
        .await;
    assert_eq!(
        wrong.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        wrong.body
    );
    wrong.assert_contains(&[
        r#"id="confirm-error""#,
        "is not the id of this deployment",
        r#"aria-describedby="confirm-error" aria-invalid="true""#,
    ]);
    assert!(operations(&mut api, SHOP).await.is_empty());

    let dropped = admin
        .post(
            &format!("{SHOP_PAGE}/drop"),
            &[
                ("csrf", &csrf),
                ("request_id", &request_id),
                ("confirm", "shop"),
            ],
        )
        .await;
    assert_eq!(
        dropped.status,
        http::StatusCode::SEE_OTHER,
        "{}",
        dropped.body
    );
    let listed = operations(&mut api, SHOP).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].action(), pb::OperationAction::Drop);
    assert_eq!(listed[0].request_id, request_id);
    let job = listed[0].jobs.first().expect("the drop job");
    assert_eq!(
        dropped.location(),
        format!("{SHOP_PAGE}/jobs/{}", job.rsplit('/').next().unwrap()),
        "to the drop job's page"
    );
}

#[tokio::test]
async fn a_busy_deployment_offers_no_action_and_a_deploy_meanwhile_shows_the_api_refusal() {
    let (suite, mut api) = seeded().await;
    // A real folder cluster, where nothing plays the Kubernetes controllers: the deploy book
    // waits (minutes) for a rollout that never comes, so the operation keeps running.
    let folder = suite.clusters_dir().join("folder");
    api.create_directory_cluster("projects/acme", "folder", &folder)
        .await
        .unwrap();
    let update = api.request(pb::UpdateDeploymentRequest {
        deployment: Some(pb::Deployment {
            name: SHOP.into(),
            clusters: vec!["projects/acme/clusters/folder".into()],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["clusters".into()],
        }),
        ..Default::default()
    });
    api.deployments.update_deployment(update).await.unwrap();
    let deploy = api.request(pb::DeployDeploymentRequest {
        name: SHOP.into(),
        ..Default::default()
    });
    let operation = api
        .deployments
        .deploy_deployment(deploy)
        .await
        .unwrap()
        .into_inner();
    // Initialized, deploying: the deploy book's job has started.
    let running = api.operation_with_job(&operation.name, 1).await.unwrap();
    assert_eq!(
        running.status(),
        pb::OperationStatus::Running,
        "{running:?}"
    );
    let mut admin = Browser::signed_in(suite.gateway.url(), &suite.admin_token).await;
    let detail = admin.get(SHOP_PAGE).await;
    detail.assert_contains(&[
        r#"<button type="submit" id="deploy-button" aria-describedby="deploy-why" disabled>Deploy</button>"#,
        r#"<button type="submit" id="drop-button" aria-describedby="drop-why" disabled>Drop…</button>"#,
        "Not possible now: Another operation is running on this deployment; wait for it to end.",
    ]);

    let csrf = detail.csrf();
    let request_id = detail.field_after(&format!(r#"action="{SHOP_PAGE}/deploy""#), "request_id");
    let refused = admin
        .post(
            &format!("{SHOP_PAGE}/deploy"),
            &[("csrf", &csrf), ("request_id", &request_id)],
        )
        .await;
    assert_eq!(
        refused.status,
        http::StatusCode::CONFLICT,
        "{}",
        refused.body
    );
    refused.assert_contains(&["Deploy was refused:", "is busy", r#"id="actions-heading""#]);
    assert_eq!(operations(&mut api, SHOP).await.len(), 1);
}
