//! The browser harness (`eyrie_tests::browser`) against pages this test serves itself, under
//! the strict Content-Security-Policy the console uses: real headless Chromium fills a form,
//! submits it, waits for the answer, takes screenshots, and axe-core checks the pages, finding
//! nothing serious on a good page and the missing label on a bad one.

use std::{net::SocketAddr, panic::AssertUnwindSafe, time::Duration};

use eyrie_tests::browser::{self, DESKTOP, PHONE};
use futures::FutureExt as _;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// No inline script or style, nothing from elsewhere: what the console sends.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'";

const FORM_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Greeter</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>Greeter</h1></header>
<main>
<form method="post" action="/greet">
<label for="name">Your name</label>
<input id="name" name="name" type="text" autocomplete="name">
<button type="submit">Greet me</button>
</form>
<p id="inline">No inline script ran.</p>
<script>document.getElementById('inline').textContent = 'INLINE SCRIPT RAN';</script>
</main>
</body>
</html>
"#;

/// An input nobody can name: axe's `label` rule (critical) must catch it.
const BAD_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bad</title></head>
<body><main><h1>Search</h1><form><input type="text" name="q"></form></main></body>
</html>
"#;

/// The CSP allows scripts from the page's own origin: this one runs and says so.
const APP_JS: &str = "document.documentElement.dataset.js = 'ran';\n";
const APP_CSS: &str = "body { font-family: sans-serif; margin: 1rem; color: #1a1a1a; }\n\
    input, button { font-size: 1rem; padding: 0.5rem; margin: 0.25rem 0; }\n";

fn greeting_page(name: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Hello</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\
         <body><main><h1>Hello, {}!</h1><p><a href=\"/\">Again</a></p></main></body></html>\n",
        escape_html(name)
    )
}

#[tokio::test]
async fn the_browser_fills_and_submits_a_form_under_a_strict_csp_and_axe_passes_it() {
    let Some(browser) = browser::start_or_skip("browser_smoke_form").await else {
        return;
    };
    let site = serve().await;

    browser.goto(&format!("http://{site}/")).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Greeter");
    // The policy is in force: the page's own script ran, its inline one did not.
    browser
        .wait_for("app.js to run", |page| async move {
            let js = page
                .client()
                .execute("return document.documentElement.dataset.js;", vec![])
                .await?;
            Ok((js == "ran").then_some(()))
        })
        .await;
    let text = browser.text().await.unwrap();
    assert!(text.contains("No inline script ran."), "{text}");

    // The viewport is what was asked for, at both widths.
    for viewport in [PHONE, DESKTOP] {
        browser.set_viewport(viewport).await.unwrap();
        let width = browser
            .client()
            .execute("return window.innerWidth;", vec![])
            .await
            .unwrap();
        assert_eq!(width, u64::from(viewport.width));
    }
    let shots = browser.screenshots("form").await.unwrap();
    for (shot, width) in shots.iter().zip([PHONE.width, DESKTOP.width]) {
        let png = std::fs::read(shot).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{} is no PNG", shot.display());
        assert!(shot.ends_with(format!("browser_smoke_form/form-{width}.png")));
    }
    // axe runs although the page's CSP forbids inline scripts.
    browser.assert_no_serious_violations().await;

    browser.fill("Your name", "Ada <Lovelace>").await.unwrap();
    browser.click_by_role("button", "Greet me").await.unwrap();
    browser.wait_for_text("Hello, Ada <Lovelace>!").await;
    assert!(browser.url().await.unwrap().ends_with("/greet"));
    assert_eq!(
        browser
            .find_by_role("heading", "Hello, Ada <Lovelace>!")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Hello, Ada <Lovelace>!"
    );
    browser.screenshots("greeting").await.unwrap();
    browser.assert_no_serious_violations().await;

    // Back to the form by its link.
    browser.click_by_role("link", "Again").await.unwrap();
    browser.find_by_label("Your name").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn axe_reports_an_input_without_a_label() {
    let Some(browser) = browser::start_or_skip("browser_smoke_bad").await else {
        return;
    };
    let site = serve().await;
    browser.goto(&format!("http://{site}/bad")).await.unwrap();

    let violations = browser.axe_check().await.unwrap();
    let label = violations
        .iter()
        .find(|violation| violation.id == "label")
        .unwrap_or_else(|| panic!("axe missed the unlabelled input: {violations:#?}"));
    assert!(label.is_serious(), "{label}");
    assert_eq!(label.nodes.len(), 1, "{label}");
    assert!(label.nodes[0].html.contains(r#"name="q""#), "{label}");

    // And the assertion the console tests use fails on it, naming the rule and the element.
    let outcome = AssertUnwindSafe(browser.assert_no_serious_violations())
        .catch_unwind()
        .await;
    let panic = outcome.expect_err("assert_no_serious_violations passed a page axe faults");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("- label (critical)"), "{message}");
    assert!(message.contains(r#"name="q""#), "{message}");

    // A lookup that cannot succeed names what it looked for and the page it looked at.
    browser.set_wait_timeout(Duration::from_secs(1));
    let error = browser
        .find_by_label("Search terms")
        .await
        .expect_err("no field is labelled so");
    let message = format!("{error:#}");
    assert!(
        message.contains("the field labelled \"Search terms\""),
        "{message}"
    );
    assert!(
        message.contains(&format!("page: http://{site}/bad")),
        "{message}"
    );
    browser.close().await.unwrap();
}

/// Serves the pages on a free loopback port, every answer with the CSP header, until the test's
/// runtime ends.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    address
}

/// Reads one request (head and `Content-Length` body) and answers it; the connection closes.
async fn answer(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0; 4096];
    let head_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return, // Chromium opens spare connections it never uses.
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let body = String::from_utf8_lossy(&request[head_end..head_end + length]).into_owned();
    let request_line = head.lines().next().unwrap_or_default();
    let (status, content_type, page) = match request_line.split(' ').take(2).collect::<Vec<_>>()[..]
    {
        ["GET", "/"] => ("200 OK", "text/html", FORM_PAGE.to_owned()),
        ["GET", "/bad"] => ("200 OK", "text/html", BAD_PAGE.to_owned()),
        ["GET", "/app.js"] => ("200 OK", "text/javascript", APP_JS.to_owned()),
        ["GET", "/app.css"] => ("200 OK", "text/css", APP_CSS.to_owned()),
        ["POST", "/greet"] => {
            let name = form_value(&body, "name").unwrap_or_default();
            ("200 OK", "text/html", greeting_page(&name))
        }
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\n\
         Content-Length: {}\r\nContent-Security-Policy: {CSP}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The value of `key` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == key).then(|| percent_decode(&value.replace('+', " ")))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
