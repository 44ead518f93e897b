//! The web console (#18), driven as a browser would: plain HTTP/1.1 requests to the gateway's
//! API port, the session cookie carried by hand, against the whole suite.

#[allow(dead_code)]
mod console_support;

use eyrie_proto::v1 as pb;
use eyrie_tests::{Suite, journey::Gateway};

use console_support::{Browser, Via, create_simulated_cluster};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const HOSTILE: &str = "<script>alert(1)</script> & Co";

/// The suite with project `acme` (display name [`HOSTILE`]): scope `dev`, the directory
/// cluster `local`, a simulated one, group `web` and its deployment `shop` at version 2 (a new
/// image).
async fn seeded() -> (Suite, Gateway) {
    let suite = Suite::start().await.unwrap();
    let mut api = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    api.create_shop("acme", HOSTILE, &suite.clusters_dir())
        .await
        .unwrap();
    create_simulated_cluster(&suite, &mut api).await;
    let shop = api.deployment(SHOP).await.unwrap();
    let update = api.request(pb::UpdateDeploymentRequest {
        deployment: Some(pb::Deployment {
            name: SHOP.into(),
            image: "nginx:1.28".into(),
            clusters: vec![
                "projects/acme/clusters/local".into(),
                "projects/acme/clusters/sim".into(),
            ],
            etag: shop.etag,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["image".into(), "clusters".into()],
        }),
        ..Default::default()
    });
    api.deployments.update_deployment(update).await.unwrap();
    // Versions are recorded asynchronously: wait (bounded) for the second.
    for _ in 0..200 {
        let listed = api
            .versions
            .list_versions(api.request(pb::ListVersionsRequest {
                parent: SHOP.into(),
                ..Default::default()
            }))
            .await;
        if listed.is_ok_and(|listed| listed.into_inner().versions.len() == 2) {
            return (suite, api);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("version 2 of {SHOP} was not recorded");
}

#[tokio::test]
async fn signing_in_needs_a_known_token_and_sets_a_strict_http_only_cookie() {
    let suite = Suite::start().await.unwrap();
    let mut browser = Browser::new(suite.gateway.url());

    let home = browser.get("/_eyrie/p/acme").await;
    assert_eq!(home.status, http::StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/_eyrie/sign-in?next=%2F_eyrie%2Fp%2Facme");
    home.assert_secure_headers();

    let refused = browser.sign_in("eyr_not-a-token").await;
    assert_eq!(refused.status, http::StatusCode::UNAUTHORIZED);
    assert!(
        refused.body.contains("unknown or revoked"),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("eyr_not-a-token"),
        "the token is shown back"
    );
    let anonymous = browser.cookie.clone().expect("a session before sign-in");

    let accepted = browser.sign_in(&suite.admin_token).await;
    assert_eq!(
        accepted.status,
        http::StatusCode::SEE_OTHER,
        "{}",
        accepted.body
    );
    assert_eq!(accepted.location(), "/_eyrie/");
    let cookie = accepted.set_cookie().expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/_eyrie"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plaintext gateway: {cookie}");
    assert_ne!(
        browser.cookie.as_deref(),
        Some(anonymous.as_str()),
        "signing in starts a session under a new id"
    );
    let home = browser.get("/_eyrie/").await;
    assert_eq!(home.status, http::StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("Sign out"), "{}", home.body);
    assert!(
        !home.body.contains(&suite.admin_token),
        "the token is shown"
    );
    assert_eq!(home.headers["cache-control"], "no-store");
    home.assert_secure_headers();

    // A session id the server never gave is nobody's.
    browser.cookie = Some("forged".into());
    assert_eq!(
        browser.get("/_eyrie/").await.status,
        http::StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_read_pages_show_the_project_group_and_deployment_escaped() {
    let (suite, _api) = seeded().await;
    let mut browser = Browser::new(suite.gateway.url());
    browser.sign_in(&suite.admin_token).await;

    let home = browser.get("/_eyrie/").await;
    assert_eq!(home.status, http::StatusCode::OK);
    assert!(
        home.body.contains(r#"href="/_eyrie/p/acme""#),
        "{}",
        home.body
    );
    assert!(
        home.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; Co")
            || home
                .body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("<script>alert"), "{}", home.body);

    let project = browser.get("/_eyrie/p/acme").await;
    assert_eq!(project.status, http::StatusCode::OK, "{}", project.body);
    project.assert_secure_headers();
    assert!(!project.body.contains("<script>alert"), "{}", project.body);
    for text in [
        r#"href="/_eyrie/p/acme/dg/web""#,
        "Dev",
        "allowed",
        "Folder local",
        "Try-out",
        "directory",
        "simulated",
    ] {
        assert!(project.body.contains(text), "{text}: {}", project.body);
    }

    let group = browser.get("/_eyrie/p/acme/dg/web").await;
    assert_eq!(group.status, http::StatusCode::OK, "{}", group.body);
    group.assert_secure_headers();
    for text in [
        r#"id="deployment-shop""#,
        r#"href="/_eyrie/p/acme/dg/web/d/shop""#,
        "Shop",
        "draft",
        "nginx:1.28",
        "Try-out",
        "simulated",
        "none yet",
    ] {
        assert!(group.body.contains(text), "{text}: {}", group.body);
    }

    let detail = browser.get("/_eyrie/p/acme/dg/web/d/shop").await;
    assert_eq!(detail.status, http::StatusCode::OK, "{}", detail.body);
    detail.assert_secure_headers();
    for text in ["acme-shop", "nginx:1.28", "Versions", "created", "updated"] {
        assert!(detail.body.contains(text), "{text}: {}", detail.body);
    }
    let diff = browser
        .get("/_eyrie/p/acme/dg/web/d/shop?from=1&to=2")
        .await;
    assert_eq!(diff.status, http::StatusCode::OK, "{}", diff.body);
    for text in [
        "Version 1 → version 2",
        "<code>image</code>",
        "nginx:1.27",
        "nginx:1.28",
        "<code>clusters</code>",
    ] {
        assert!(diff.body.contains(text), "{text}: {}", diff.body);
    }
    let unknown_version = browser
        .get("/_eyrie/p/acme/dg/web/d/shop?from=1&to=9")
        .await;
    assert_eq!(unknown_version.status, http::StatusCode::OK);
    assert!(
        unknown_version.body.contains("cannot be compared"),
        "{}",
        unknown_version.body
    );

    for missing in [
        "/_eyrie/p/acme/dg/web/d/nothing",
        "/_eyrie/p/acme/dg/nothing",
        "/_eyrie/p/Not%2FA%2FSlug",
        "/_eyrie/no-such-page",
    ] {
        let page = browser.get(missing).await;
        assert_eq!(
            page.status,
            http::StatusCode::NOT_FOUND,
            "{missing}: {}",
            page.body
        );
        page.assert_secure_headers();
        assert!(page.body.contains("Sign out"), "the signed-in header stays");
    }

    // The stylesheet and htmx: from the binary, cacheable for good under a versioned path.
    let css_path = {
        let start = detail.body.find("/_eyrie/static/").unwrap();
        let end = detail.body[start..].find('"').unwrap() + start;
        detail.body[start..end].to_owned()
    };
    let css = browser.get(&css_path).await;
    assert_eq!(css.status, http::StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(detail.body.contains("htmx.min.js") && detail.body.contains("htmx-ext-sse.min.js"));
}

#[tokio::test]
async fn a_viewer_reads_its_project_only_and_a_revoked_token_signs_out() {
    let (suite, mut api) = seeded().await;
    api.create_project("other", "Other").await.unwrap();
    let viewer = api
        .create_token("viewer", "projects/acme", pb::Role::Viewer)
        .await
        .unwrap();
    let mut browser = Browser::new(suite.gateway.url());
    assert_eq!(
        browser.sign_in(&viewer).await.status,
        http::StatusCode::SEE_OTHER
    );

    let home = browser.get("/_eyrie/").await;
    assert!(
        home.body.contains(r#"href="/_eyrie/p/acme""#),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains(r#"href="/_eyrie/p/other""#),
        "{}",
        home.body
    );
    for path in ["/_eyrie/p/acme/dg/web", "/_eyrie/p/acme/dg/web/d/shop"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, http::StatusCode::OK, "{path}: {}", page.body);
    }
    let other = browser.get("/_eyrie/p/other").await;
    assert_eq!(other.status, http::StatusCode::FORBIDDEN, "{}", other.body);
    other.assert_secure_headers();
    assert!(other.body.contains("Signed in as"), "{}", other.body);

    let revoke = api.request(pb::RevokeTokenRequest {
        name: "tokens/viewer".into(),
        ..Default::default()
    });
    api.access.revoke_token(revoke).await.unwrap();
    // The gateway may trust a token it checked for `auth.cache_ttl` more: poll (bounded).
    for _ in 0..100 {
        let page = browser.get("/_eyrie/p/acme").await;
        if page.status == http::StatusCode::SEE_OTHER {
            assert!(
                page.location().starts_with("/_eyrie/sign-in"),
                "{}",
                page.location()
            );
            assert!(
                page.set_cookie().is_some_and(|c| c.contains("Max-Age=0")),
                "the session cookie is cleared"
            );
            return;
        }
        assert_eq!(page.status, http::StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the revoked token's session still reads pages");
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_a_same_origin_post_then_ends_the_session() {
    let suite = Suite::start().await.unwrap();
    let mut browser = Browser::new(suite.gateway.url());
    browser.sign_in(&suite.admin_token).await;
    let home = browser.get("/_eyrie/").await;
    let csrf = home.csrf();

    let forged = browser
        .post_via("/_eyrie/sign-out", &[], Via::Nowhere)
        .await;
    assert_eq!(
        forged.status,
        http::StatusCode::FORBIDDEN,
        "{}",
        forged.body
    );
    forged.assert_secure_headers();
    let wrong = browser
        .post("/_eyrie/sign-out", &[("csrf", "not-the-token")])
        .await;
    assert_eq!(wrong.status, http::StatusCode::FORBIDDEN);
    let cross_site = browser
        .post_via(
            "/_eyrie/sign-out",
            &[("csrf", &csrf)],
            Via::Origin("https://evil.example.com"),
        )
        .await;
    assert_eq!(cross_site.status, http::StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/_eyrie/").await.status,
        http::StatusCode::OK,
        "refused posts leave the session alone"
    );

    let session = browser.cookie.clone();
    let signed_out = browser.post("/_eyrie/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status, http::StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), "/_eyrie/sign-in");
    assert!(signed_out.set_cookie().unwrap().contains("Max-Age=0"));
    // Even a browser that kept the cookie is signed out: the session is gone on the server.
    browser.cookie = session;
    let after = browser.get("/_eyrie/").await;
    assert_eq!(after.status, http::StatusCode::SEE_OTHER);

    // Sign-in's own form is protected too.
    browser.cookie = None;
    let forged_sign_in = browser
        .post_via(
            "/_eyrie/sign-in",
            &[("token", &suite.admin_token)],
            Via::Nowhere,
        )
        .await;
    assert_eq!(forged_sign_in.status, http::StatusCode::FORBIDDEN);
    assert!(
        browser.get("/_eyrie/").await.status == http::StatusCode::SEE_OTHER,
        "a sign-in without the form's token starts no session"
    );
}

/// In a real browser (skipped where there is none, never in CI): signing in through the form,
/// every read page at a phone's and a desktop's width without a serious axe violation, the
/// Content-Security-Policy letting the console's own scripts (htmx) run.
#[tokio::test]
async fn a_browser_signs_in_and_reads_every_page_accessibly() {
    use eyrie_tests::browser::{self, DESKTOP, PHONE};

    let Some(chromium) = browser::start_or_skip("console_read_pages").await else {
        return;
    };
    let (suite, _api) = seeded().await;
    let base = suite.gateway.url();

    chromium
        .goto(&format!("{base}/_eyrie/p/acme/dg/web"))
        .await
        .unwrap();
    chromium.find_by_label("API token").await.unwrap();
    chromium.assert_no_serious_violations().await;
    chromium
        .fill("API token", &suite.admin_token)
        .await
        .unwrap();
    chromium.click_by_role("button", "Sign in").await.unwrap();
    // Back to the page asked for.
    chromium.wait_for_text("Last operation").await;
    assert!(
        chromium
            .url()
            .await
            .unwrap()
            .ends_with("/_eyrie/p/acme/dg/web")
    );
    let htmx = chromium
        .client()
        .execute("return typeof window.htmx;", vec![])
        .await
        .unwrap();
    assert_eq!(htmx, "object", "htmx runs under the CSP");

    for (path, text) in [
        ("/_eyrie/", "Projects"),
        ("/_eyrie/p/acme", "Deployment groups"),
        ("/_eyrie/p/acme/dg/web", "Last operation"),
        (
            "/_eyrie/p/acme/dg/web/d/shop?from=1&to=2",
            "Version 1 → version 2",
        ),
        ("/_eyrie/p/acme/dg/web/d/nothing", "Not found"),
    ] {
        chromium.goto(&format!("{base}{path}")).await.unwrap();
        chromium.wait_for_text(text).await;
        for viewport in [PHONE, DESKTOP] {
            chromium.set_viewport(viewport).await.unwrap();
            chromium.assert_no_serious_violations().await;
        }
        let name = path.trim_matches('/').replace(['/', '?', '&', '='], "_");
        chromium.screenshots(&name).await.unwrap();
    }

    chromium.goto(&format!("{base}/_eyrie/")).await.unwrap();
    chromium.click_by_role("button", "Sign out").await.unwrap();
    chromium.find_by_label("API token").await.unwrap();
    chromium
        .goto(&format!("{base}/_eyrie/p/acme"))
        .await
        .unwrap();
    chromium.find_by_label("API token").await.unwrap();
    chromium.close().await.unwrap();
}
