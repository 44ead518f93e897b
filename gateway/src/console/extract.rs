//! What handlers ask for: the signed-in session (with the API as its token's holder) and
//! checked form posts.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
};
use eyrie_proto::v1 as pb;
use http::request::Parts;
use serde::{Deserialize, de::DeserializeOwned};

use super::{Console, api::Api, csrf, error::PageError, session, view::Chrome};

/// The person signed in on this request's session; a handler taking it is for signed-in people
/// only (others are sent to the sign-in form, and back to the page afterwards).
pub struct SignedIn {
    api: Api,
    who: Arc<pb::Token>,
    csrf: String,
}

impl SignedIn {
    /// The public API as the session's token holder: every call passes the same authorization
    /// as any client's. A refusal converts into the right page with `?` ([`PageError`]).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Who is signed in (the token, its global-admin flag and its roles).
    pub fn who(&self) -> &pb::Token {
        &self.who
    }

    /// The role the signed-in token holds on project `project` (`projects/{slug}`), a global
    /// admin counting as `admin`; `None` without one. For showing or disabling actions only:
    /// the API decides, on every call.
    pub fn role_on(&self, project: &str) -> Option<pb::Role> {
        role_on(&self.who, project)
    }

    /// The session's CSRF token: every form's hidden `csrf` field.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The layout of a page titled `title` for this person.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            who: Some(self.who.clone()),
            csrf: self.csrf.clone(),
            crumbs: Vec::new(),
        }
    }
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, PageError> {
        // Back to the page after signing in; a form post is not replayed.
        let next = (parts.method == http::Method::GET)
            .then(|| {
                parts
                    .uri
                    .path_and_query()
                    .map(|path| path.as_str().to_owned())
            })
            .flatten();
        let to_sign_in = || PageError::SignIn {
            next: next.clone(),
            token_refused: false,
        };
        let Some(session) = session::cookie(&parts.headers, session::COOKIE)
            .and_then(|id| console.sessions().get(id))
        else {
            return Err(to_sign_in());
        };
        let (Some(token), Some(who)) = (&session.token, &session.who) else {
            return Err(to_sign_in());
        };
        let api = Api::as_holder_of(console.services(), token).ok_or_else(to_sign_in)?;
        Ok(Self {
            api,
            who: who.clone(),
            csrf: session.csrf,
        })
    }
}

fn role_on(who: &pb::Token, project: &str) -> Option<pb::Role> {
    if who.global_admin {
        return Some(pb::Role::Admin);
    }
    who.role_bindings
        .iter()
        .find(|binding| binding.project == project)
        .map(pb::RoleBinding::role)
        .filter(|role| *role != pb::Role::Unspecified)
}

/// Largest form a page posts, in bytes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A form posted by the signed-in person: refused (403) when it comes from another site or
/// without the session's CSRF token, before `T` is even parsed.
pub struct Posted<T> {
    /// Who posted it.
    pub signed_in: SignedIn,
    /// The form's fields (other than `csrf`).
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Refuses a POST that a browser sent from a page of another site.
pub fn refuse_cross_site(parts: &Parts) -> Result<(), PageError> {
    let authority = parts.uri.authority().map(|authority| authority.as_str());
    if csrf::is_cross_site(&parts.headers, authority) {
        return Err(PageError::Forbidden(
            "This form was sent from another site.".to_owned(),
        ));
    }
    Ok(())
}

/// The body of a form post, and whether its `csrf` field is `expected`.
pub async fn form_body(body: axum::body::Body, expected: &str) -> Result<(Bytes, bool), PageError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("The form is too large.".to_owned()))?;
    let field: CsrfField = serde_urlencoded::from_bytes(&bytes)
        .map_err(|err| PageError::BadRequest(format!("The form cannot be read: {err}.")))?;
    let valid = csrf::token_matches(expected, &field.csrf);
    Ok((bytes, valid))
}

/// Parses a form's fields into `T`.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|err| PageError::BadRequest(format!("The form cannot be read: {err}.")))
}

impl<T: DeserializeOwned + Send> FromRequest<Console> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, console: &Console) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        refuse_cross_site(&parts)?;
        let signed_in = SignedIn::from_request_parts(&mut parts, console).await?;
        let (bytes, valid) = form_body(body, &signed_in.csrf).await?;
        if !valid {
            return Err(PageError::Forbidden(
                "This form's security token is missing or out of date: reload the page and try again."
                    .to_owned(),
            ));
        }
        let form = parse_form(&bytes)?;
        Ok(Self { signed_in, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_read_from_the_bindings_and_global_admins_are_admins() {
        let viewer = pb::Token {
            role_bindings: vec![pb::RoleBinding {
                project: "projects/acme".into(),
                role: pb::Role::Viewer.into(),
            }],
            ..Default::default()
        };
        assert_eq!(role_on(&viewer, "projects/acme"), Some(pb::Role::Viewer));
        assert_eq!(role_on(&viewer, "projects/other"), None);
        let admin = pb::Token {
            global_admin: true,
            ..Default::default()
        };
        assert_eq!(role_on(&admin, "projects/any"), Some(pb::Role::Admin));
    }
}
