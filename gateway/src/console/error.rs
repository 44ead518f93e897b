//! Pages that are not the one asked for: the sign-in redirect, not found, forbidden, and the
//! API's other refusals, each with its HTTP status.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use eyrie_platform::peer_status::PeerFailure;
use tonic::Status;

use super::{render, view::Chrome};

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Nobody is signed in (or the session's token no longer works): to the sign-in form,
    /// coming back to `next` afterwards.
    SignIn {
        /// The console path to return to after signing in.
        next: Option<String>,
        /// The session's token was refused: the session ends.
        token_refused: bool,
    },
    /// 400: the request itself is wrong (the message says how).
    BadRequest(String),
    /// 403: the caller may not see or do this; or a form came without its CSRF token.
    Forbidden(String),
    /// 404: no such page or resource (or one hidden from the caller).
    NotFound(String),
    /// 409: the resource's state does not allow it (another operation runs, a stale etag, an
    /// id taken).
    Conflict(String),
    /// 429: the token is over its rate limit.
    TooManyRequests(String),
    /// 503: a service behind the gateway does not answer.
    Unavailable,
    /// 500: something went wrong on our side; details are logged, not shown.
    Internal,
}

/// Response extension: the request's session must end (its token was refused).
#[derive(Debug, Clone, Copy)]
pub struct EndSession;

/// Response extension: this response is an error page, shown with the signed-in person's
/// header when there is one (see [`ErrorPage::for_session`]).
#[derive(Debug, Clone)]
pub struct Shown {
    title: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    message: String,
}

/// The error page `shown` again, for a signed-in person (`who`, whose forms carry `csrf`):
/// with their header and sign-out form.
pub fn for_session(
    shown: &Shown,
    who: std::sync::Arc<eyrie_proto::v1::Token>,
    csrf: String,
) -> Option<String> {
    let chrome = Chrome {
        who: Some(who),
        csrf,
        ..Chrome::anonymous(shown.title)
    };
    ErrorPage {
        chrome,
        message: shown.message.clone(),
    }
    .render()
    .ok()
}

impl From<Status> for PageError {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        match PeerFailure::of(status.code()) {
            PeerFailure::Unauthenticated => Self::SignIn {
                next: None,
                token_refused: true,
            },
            PeerFailure::Denied => Self::Forbidden(message),
            PeerFailure::NotFound => Self::NotFound(message),
            PeerFailure::Invalid => Self::BadRequest(message),
            PeerFailure::Refused | PeerFailure::Aborted => Self::Conflict(message),
            PeerFailure::Exhausted => Self::TooManyRequests(message),
            PeerFailure::Unavailable => {
                tracing::warn!(code = ?status.code(), %message, "console: a service did not answer");
                Self::Unavailable
            }
            PeerFailure::Broken | PeerFailure::Fault => {
                tracing::error!(code = ?status.code(), %message, "console: API call failed");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::SignIn {
                next,
                token_refused,
            } => {
                let mut response =
                    Redirect::to(&super::pages::sign_in::url(next.as_deref())).into_response();
                if token_refused {
                    response.extensions_mut().insert(EndSession);
                }
                return response;
            }
            Self::BadRequest(message) => (http::StatusCode::BAD_REQUEST, "Bad request", message),
            Self::Forbidden(message) => (http::StatusCode::FORBIDDEN, "Forbidden", message),
            Self::NotFound(message) => (http::StatusCode::NOT_FOUND, "Not found", message),
            Self::Conflict(message) => (http::StatusCode::CONFLICT, "Not possible now", message),
            Self::TooManyRequests(message) => (
                http::StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                message,
            ),
            Self::Unavailable => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "A service behind the gateway does not answer; try again in a moment.".to_owned(),
            ),
            Self::Internal => (
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The gateway's log says what.".to_owned(),
            ),
        };
        let page = ErrorPage {
            chrome: Chrome::anonymous(title),
            message,
        };
        let mut response = (status, render(&page)).into_response();
        response.extensions_mut().insert(Shown {
            title,
            message: page.message,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_code_gets_its_page() {
        let page = |code| PageError::from(Status::new(code, "m"));
        assert!(matches!(
            page(Code::Unauthenticated),
            PageError::SignIn {
                next: None,
                token_refused: true
            }
        ));
        assert!(matches!(
            page(Code::PermissionDenied),
            PageError::Forbidden(_)
        ));
        assert!(matches!(page(Code::NotFound), PageError::NotFound(_)));
        for code in [Code::InvalidArgument, Code::OutOfRange] {
            assert!(matches!(page(code), PageError::BadRequest(_)), "{code:?}");
        }
        for code in [Code::FailedPrecondition, Code::AlreadyExists, Code::Aborted] {
            assert!(matches!(page(code), PageError::Conflict(_)), "{code:?}");
        }
        assert!(matches!(
            page(Code::ResourceExhausted),
            PageError::TooManyRequests(_)
        ));
        for code in [Code::Unavailable, Code::DeadlineExceeded] {
            assert!(matches!(page(code), PageError::Unavailable), "{code:?}");
        }
        for code in [
            Code::Internal,
            Code::Unknown,
            Code::Cancelled,
            Code::Unimplemented,
            Code::DataLoss,
            Code::Ok,
        ] {
            assert!(matches!(page(code), PageError::Internal), "{code:?}");
        }
    }
}
