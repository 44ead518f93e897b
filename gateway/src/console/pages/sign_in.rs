//! Signing in with an API token, and out.

use askama::Template;
use axum::{
    extract::{Query, Request, State},
    response::{IntoResponse, Redirect, Response},
};
use eyrie_proto::v1 as pb;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::SecretString;
use serde::Deserialize;
use tonic::Code;

use crate::console::{
    Console, PREFIX, Posted,
    api::Api,
    error::PageError,
    extract::{form_body, parse_form, refuse_cross_site},
    render,
    session::{self, Session, SessionId},
    view::Chrome,
};

/// The sign-in form's URL, coming back to `next` afterwards.
pub fn url(next: Option<&str>) -> String {
    match next.and_then(safe_next) {
        Some(next) if next != HOME => format!(
            "{PREFIX}/sign-in?{}",
            serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
        ),
        _ => format!("{PREFIX}/sign-in"),
    }
}

const HOME: &str = "/_eyrie/";

/// `next` when it is a console page (never another site: `//host` or `/\host` are refused).
fn safe_next(next: &str) -> Option<&str> {
    let console_page = next.starts_with(HOME) || next == PREFIX;
    let elsewhere = next.contains("//") || next.contains('\\');
    (console_page && !elsewhere).then_some(next)
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    error: Option<String>,
}

/// `?next=`: where to go after signing in.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /_eyrie/sign-in`: the form; someone already signed in goes on to `next`.
pub async fn form(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = query.next.as_deref().and_then(safe_next).unwrap_or(HOME);
    let current =
        session::cookie(&headers, session::COOKIE).and_then(|id| console.sessions().get(id));
    match current {
        Some(session) if session.token.is_some() => Redirect::to(next).into_response(),
        Some(session) => form_page(&console, None, &session, next, StatusCode::OK, None),
        None => {
            let (id, session) = console.sessions().create(None);
            form_page(&console, Some(&id), &session, next, StatusCode::OK, None)
        }
    }
}

/// The sign-in form of `session`, with `error`; sets the cookie of `new_id` when given.
fn form_page(
    console: &Console,
    new_id: Option<&SessionId>,
    session: &Session,
    next: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let page = SignInPage {
        chrome: Chrome::anonymous("Sign in"),
        csrf: session.csrf.clone(),
        next: next.to_owned(),
        error: error.map(str::to_owned),
    };
    let mut response = (status, render(&page)).into_response();
    if let Some(id) = new_id {
        set_cookie(
            &mut response,
            &session::set_cookie(id, console.secure_cookies()),
        );
    }
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /_eyrie/sign-in`: checks the token with `AccessService/WhoAmI` (in process, as any
/// client would) and starts a session holding it, under a new id.
pub async fn submit(State(console): State<Console>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(refused) = refuse_cross_site(&parts) {
        return refused.into_response();
    }
    let old_id = session::cookie(&parts.headers, session::COOKIE).map(str::to_owned);
    let current = old_id.as_deref().and_then(|id| console.sessions().get(id));
    let expected = current.as_ref().map(|s| s.csrf.clone()).unwrap_or_default();
    let (bytes, csrf_valid) = match form_body(body, &expected).await {
        Ok(read) => read,
        Err(refused) => return refused.into_response(),
    };
    let form: SignInForm = match parse_form(&bytes) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let next = safe_next(&form.next).unwrap_or(HOME);
    let Some(current) = current.filter(|_| csrf_valid) else {
        // No session (expired, or the form is not ours) or a wrong CSRF token: a fresh form.
        let (id, session) = console.sessions().create(None);
        return form_page(
            &console,
            Some(&id),
            &session,
            next,
            StatusCode::FORBIDDEN,
            Some("This sign-in form had expired. Please sign in again."),
        );
    };
    let refuse = |status, error| form_page(&console, None, &current, next, status, Some(error));
    let token = form.token.trim();
    if token.is_empty() {
        return refuse(StatusCode::UNAUTHORIZED, "Enter an API token.");
    }
    let token = SecretString::from(token.to_owned());
    let Some(api) = Api::as_holder_of(console.services(), &token) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "This token is unknown or revoked.",
        );
    };
    let who = match api.access().who_am_i(pb::WhoAmIRequest {}).await {
        Ok(who) => who.into_inner().token.unwrap_or_default(),
        Err(status) if status.code() == Code::Unauthenticated => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "This token is unknown or revoked.",
            );
        }
        Err(status) if status.code() == Code::ResourceExhausted => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "This token is over its rate limit; try again in a moment.",
            );
        }
        Err(status) => return PageError::from(status).into_response(),
    };
    if let Some(old_id) = &old_id {
        console.sessions().remove(old_id);
    }
    let (id, _) = console.sessions().create(Some((token, who)));
    let mut response = Redirect::to(next).into_response();
    set_cookie(
        &mut response,
        &session::set_cookie(&id, console.secure_cookies()),
    );
    response
}

/// The sign-out form: nothing but its CSRF token.
#[derive(Deserialize)]
pub struct SignOutForm {}

/// `POST /_eyrie/sign-out`: ends the session.
pub async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    _posted: Posted<SignOutForm>,
) -> Response {
    if let Some(id) = session::cookie(&headers, session::COOKIE) {
        console.sessions().remove(id);
    }
    let mut response = Redirect::to(&url(None)).into_response();
    set_cookie(
        &mut response,
        &session::clear_cookie(console.secure_cookies()),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_returned_to() {
        assert_eq!(safe_next("/_eyrie/p/acme"), Some("/_eyrie/p/acme"));
        assert_eq!(safe_next("https://evil.example.com/"), None);
        assert_eq!(safe_next("//evil.example.com/_eyrie/"), None);
        assert_eq!(safe_next("/_eyrie/\\evil"), None);
        assert_eq!(safe_next("/_eyrie//evil.example.com"), None);
        assert_eq!(safe_next("/other"), None);
        assert_eq!(
            url(Some("/_eyrie/p/acme")),
            "/_eyrie/sign-in?next=%2F_eyrie%2Fp%2Facme"
        );
        assert_eq!(url(None), "/_eyrie/sign-in");
    }
}
