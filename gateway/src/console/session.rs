//! Console sessions: a random id in an HttpOnly cookie, the API token it stands for kept on the
//! server.
//!
//! Sessions live in this gateway replica's memory: a replica knows only the sessions signed in
//! through it, and a restart signs everyone out. With several replicas, route each browser to
//! one replica (sticky sessions, e.g. on the `eyrie_session` cookie) or people are sent back to
//! the sign-in form. TODO(#18): keep them in the gateway's database (a hash of the id, the token
//! sealed) so that any replica serves any session.
//!
//! A visitor who has not signed in yet gets an anonymous session too, holding only the CSRF
//! token of the sign-in form; signing in replaces it by a new session under a new id, so an id
//! planted before sign-in is worth nothing after it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine as _;
use eyrie_proto::v1 as pb;
use rand::RngCore as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "eyrie_session";

/// How long sessions last and how many are kept.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub lifetime: Duration,
    /// Sessions kept at most; beyond it the least recently used anonymous ones go first.
    pub max_sessions: usize,
}

/// What a session holds.
#[derive(Clone)]
pub struct Session {
    /// The API token the session was signed in with; `None` before sign-in.
    pub token: Option<SecretString>,
    /// Who that token is (AccessService/WhoAmI at sign-in; a token's roles never change).
    pub who: Option<Arc<pb::Token>>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret (and `SecretString` redacts it anyway): name the holder only.
        f.debug_struct("Session")
            .field("who", &self.who.as_ref().map(|who| &who.name))
            .finish_non_exhaustive()
    }
}

struct Entry {
    session: Session,
    created: Instant,
    last_used: Instant,
}

/// The sessions of this replica, keyed by the SHA-256 of their id (the id itself, a bearer
/// credential, is never kept).
#[derive(Clone)]
pub struct Sessions {
    entries: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
    limits: SessionLimits,
}

/// A new session's id, to be set in the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(pub String);

impl Sessions {
    /// An empty store with `limits`.
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            entries: Arc::default(),
            limits,
        }
    }

    /// The live session of cookie value `id`, marked as used now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = key(id);
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("sessions lock");
        let entry = entries.get_mut(&key)?;
        if self.expired(entry, now) {
            entries.remove(&key);
            return None;
        }
        entry.last_used = now;
        Some(entry.session.clone())
    }

    /// Starts a session holding `token` (who is `who`), or an anonymous one when `None`.
    pub fn create(&self, signed_in: Option<(SecretString, pb::Token)>) -> (SessionId, Session) {
        let (token, who) = match signed_in {
            Some((token, who)) => (Some(token), Some(Arc::new(who))),
            None => (None, None),
        };
        let session = Session {
            token,
            who,
            csrf: random_token(),
        };
        let id = random_token();
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("sessions lock");
        if entries.len() >= self.limits.max_sessions {
            self.make_room(&mut entries, now);
        }
        entries.insert(
            key(&id),
            Entry {
                session: session.clone(),
                created: now,
                last_used: now,
            },
        );
        (SessionId(id), session)
    }

    /// Ends the session of cookie value `id`, if any.
    pub fn remove(&self, id: &str) {
        self.entries.lock().expect("sessions lock").remove(&key(id));
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.duration_since(entry.last_used) >= self.limits.idle_timeout
            || now.duration_since(entry.created) >= self.limits.lifetime
    }

    /// Drops the expired sessions; if none was, the least recently used one, anonymous first.
    fn make_room(&self, entries: &mut HashMap<[u8; 32], Entry>, now: Instant) {
        entries.retain(|_, entry| !self.expired(entry, now));
        if entries.len() < self.limits.max_sessions {
            return;
        }
        let victim = entries
            .iter()
            .min_by_key(|(_, entry)| (entry.session.token.is_some(), entry.last_used))
            .map(|(key, _)| *key);
        if let Some(victim) = victim {
            entries.remove(&victim);
        }
    }
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 256 random bits, URL-safe base64 (session ids and CSRF tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value that stores session `id`: readable by the server only, sent with the
/// console's own requests only, over TLS only when the gateway serves TLS.
pub fn set_cookie(id: &SessionId, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path={}; HttpOnly; SameSite=Strict{}",
        id.0,
        super::PREFIX,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget its session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0{}",
        super::PREFIX,
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn limits(max_sessions: usize) -> SessionLimits {
        SessionLimits {
            idle_timeout: Duration::from_secs(60),
            lifetime: Duration::from_secs(600),
            max_sessions,
        }
    }

    fn who() -> pb::Token {
        pb::Token {
            name: "tokens/admin".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_session_is_found_by_its_id_only_and_ends_when_removed() {
        let sessions = Sessions::new(limits(10));
        let (id, created) = sessions.create(Some(("eyr_secret".into(), who())));
        let found = sessions.get(&id.0).expect("the session");
        assert_eq!(found.csrf, created.csrf);
        assert_eq!(found.token.unwrap().expose_secret(), "eyr_secret");
        assert!(sessions.get("another-id").is_none());
        sessions.remove(&id.0);
        assert!(sessions.get(&id.0).is_none());
    }

    #[test]
    fn ids_and_csrf_tokens_are_random_and_256_bits() {
        let sessions = Sessions::new(limits(10));
        let (first, first_session) = sessions.create(None);
        let (second, second_session) = sessions.create(None);
        assert_ne!(first, second);
        assert_ne!(first_session.csrf, second_session.csrf);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&first.0)
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn idle_and_old_sessions_expire() {
        let sessions = Sessions::new(SessionLimits {
            idle_timeout: Duration::ZERO,
            ..limits(10)
        });
        let (id, _) = sessions.create(None);
        assert!(sessions.get(&id.0).is_none());
        let sessions = Sessions::new(SessionLimits {
            lifetime: Duration::ZERO,
            ..limits(10)
        });
        let (id, _) = sessions.create(None);
        assert!(sessions.get(&id.0).is_none());
    }

    #[test]
    fn a_full_store_drops_anonymous_sessions_before_signed_in_ones() {
        let sessions = Sessions::new(limits(2));
        let (signed_in, _) = sessions.create(Some(("eyr_a".into(), who())));
        let (anonymous, _) = sessions.create(None);
        let (newest, _) = sessions.create(None);
        assert!(sessions.get(&signed_in.0).is_some());
        assert!(sessions.get(&anonymous.0).is_none());
        assert!(sessions.get(&newest.0).is_some());
    }

    #[test]
    fn cookies_are_read_among_others_and_set_with_their_flags() {
        let mut headers = http::HeaderMap::new();
        headers.append("cookie", "a=1; eyrie_session=abc ; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
        let set = set_cookie(&SessionId("abc".into()), true);
        assert_eq!(
            set,
            "eyrie_session=abc; Path=/_eyrie; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie(&SessionId("abc".into()), false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
