//! The web console: server-rendered pages under `/_eyrie/` on the gateway's own port.
//!
//! Module map (one module per page under `pages/`, everything they share beside it):
//! - `extract`: [`SignedIn`] (the session, the API as its token's holder, its CSRF token) and
//!   [`Posted`] (a form post checked for origin and CSRF token), the extractors of handlers;
//! - `api`: the public API's clients, called in process through the gateway's own
//!   authentication and access rules;
//! - `session`, `csrf`: sessions in an HttpOnly cookie, and the checks of every form post;
//! - `error`: [`PageError`], what a handler returns when it shows no page (API refusals convert
//!   into it with `?`: 404, 403, or back to sign-in);
//! - `view`: the layout's data ([`view::Chrome`]) and the words and shapes of states;
//! - `assets`: the stylesheet and vendored htmx, embedded, under content-hashed URLs;
//! - `templates/`: askama templates, each extending `base.html`.
//!
//! A new page: a module in `pages/` with a handler taking [`SignedIn`] (or [`Posted<T>`] for a
//! form), a template extending `base.html` whose struct has a `chrome` field (from
//! [`SignedIn::chrome`]), and a route in [`router`].

mod api;
mod assets;
mod csrf;
mod error;
mod extract;
mod live;
mod pages;
mod session;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{Request, State},
    middleware::Next,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use eyrie_platform::grpc::InProcess;
use http::{HeaderValue, header};

use self::{error::EndSession, session::Sessions};
pub use self::{
    error::PageError,
    extract::{Posted, SignedIn},
    session::SessionLimits,
};

/// Where the console lives on the gateway's port.
pub const PREFIX: &str = "/_eyrie";

/// What every handler shares: the API in process, the sessions, how cookies are set.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    services: InProcess,
    sessions: Sessions,
    secure_cookies: bool,
}

impl Console {
    /// The console calling `services` (the gateway's public services, in process); its cookies
    /// are `Secure` when the gateway serves TLS (`secure_cookies`).
    pub fn new(services: InProcess, limits: SessionLimits, secure_cookies: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                services,
                sessions: Sessions::new(limits),
                secure_cookies,
            }),
        }
    }

    fn services(&self) -> &InProcess {
        &self.inner.services
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }
}

/// The console's routes, all under [`PREFIX`].
pub fn router(console: Console) -> Router {
    Router::new()
        .route(
            "/_eyrie",
            get(|| async { axum::response::Redirect::to("/_eyrie/") }),
        )
        .route("/_eyrie/", get(pages::projects::page))
        .route(
            "/_eyrie/sign-in",
            get(pages::sign_in::form).post(pages::sign_in::submit),
        )
        .route("/_eyrie/sign-out", post(pages::sign_in::sign_out))
        .route("/_eyrie/p/{project}", get(pages::project::page))
        .route("/_eyrie/p/{project}/dg/{group}", get(pages::group::page))
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}",
            get(pages::deployment::page),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/events",
            get(live::group::events),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}/jobs/{job}",
            get(pages::job::page),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}/jobs/{job}/events",
            get(live::job::events),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/new",
            get(pages::new_deployment::form).post(pages::new_deployment::submit),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}/deploy",
            post(pages::actions::deploy),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}/pause",
            post(pages::actions::pause),
        )
        .route(
            "/_eyrie/p/{project}/dg/{group}/d/{deployment}/drop",
            get(pages::actions::confirm_drop).post(pages::actions::drop),
        )
        .route("/_eyrie/static/{version}/{file}", get(assets::serve))
        .fallback(|| async { PageError::NotFound("There is no such page.".to_owned()) })
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            secure_responses,
        ))
        .with_state(console)
}

/// The Content-Security-Policy of every console response: scripts, styles and images from the
/// console's own files only, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every console response (pages are never cached; static files
/// set their own caching), and ends the session whose token the API refused.
async fn secure_responses(
    State(console): State<Console>,
    request: Request,
    next: Next,
) -> Response {
    let session_id = session::cookie(request.headers(), session::COOKIE).map(str::to_owned);
    let mut response = next.run(request).await;
    if response.extensions().get::<EndSession>().is_some() {
        if let Some(id) = &session_id {
            console.sessions().remove(id);
        }
        if let Ok(clear) = HeaderValue::from_str(&session::clear_cookie(console.secure_cookies())) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
    } else if let Some(shown) = response.extensions().get::<error::Shown>() {
        // An error page keeps the signed-in person's header (and sign-out form).
        let signed_in = session_id
            .as_deref()
            .and_then(|id| console.sessions().get(id))
            .and_then(|session| Some((session.who?, session.csrf)));
        if let Some(html) = signed_in.and_then(|(who, csrf)| error::for_session(shown, who, csrf)) {
            response.headers_mut().remove(header::CONTENT_LENGTH);
            *response.body_mut() = axum::body::Body::from(html);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `template` rendered as an HTML page (a page that fails to render is a 500, logged).
fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "console: a template failed to render");
            http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
