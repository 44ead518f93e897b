//! Tokens authenticated a moment ago, so that a busy caller costs no database read per call.
//!
//! An entry lives `ttl` at most. Revoking a token forgets it here at once; another gateway
//! replica may still accept it for up to `ttl` (two seconds by default).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::StoredToken;

/// Above this many entries, expired ones are swept before a new one is added.
const SWEEP_ABOVE: usize = 10_000;

/// A token's secret, hashed (SHA-256), as the cache keys it: no text is made per call.
pub type SecretDigest = [u8; 32];

/// Recently authenticated tokens by secret digest, shared: a hit costs no copy of the token.
#[derive(Debug, Clone)]
pub struct RecentTokens {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<SecretDigest, Entry>>>,
}

/// When a token was authenticated, and the token.
type Entry = (Instant, Arc<StoredToken>);

impl RecentTokens {
    /// Remembers tokens for `ttl`; zero remembers nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Arc::default(),
        }
    }

    /// The token whose secret hashes to `hash`, if authenticated less than `ttl` ago.
    pub fn get(&self, hash: &SecretDigest) -> Option<Arc<StoredToken>> {
        let entries = self.entries.lock().expect("recent tokens lock");
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, token)| token.clone())
    }

    /// Remembers that `hash` authenticated as `token`.
    pub fn put(&self, hash: SecretDigest, token: Arc<StoredToken>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("recent tokens lock");
        if entries.len() >= SWEEP_ABOVE {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(hash, (Instant::now(), token));
    }

    /// Forgets token `id` (revoked).
    pub fn forget(&self, id: &str) {
        self.entries
            .lock()
            .expect("recent tokens lock")
            .retain(|_, (_, token)| token.token.id != id);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::api_token;

    fn token(id: &str) -> StoredToken {
        StoredToken {
            token: api_token::Model {
                id: id.into(),
                display_name: id.into(),
                token_hash: format!("hash-{id}"),
                global_admin: false,
                created_at: Utc::now(),
                revoked_at: None,
                last_used_at: None,
                request_id: None,
            },
            bindings: Vec::new(),
        }
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_or_is_revoked() {
        let recent = RecentTokens::new(Duration::from_secs(60));
        recent.put([1; 32], Arc::new(token("ci")));
        recent.put([2; 32], Arc::new(token("ops")));
        assert_eq!(
            recent.get(&[1; 32]).map(|t| t.token.id.clone()),
            Some("ci".into())
        );
        recent.forget("ci");
        assert!(recent.get(&[1; 32]).is_none());
        assert!(recent.get(&[2; 32]).is_some());

        let expiring = RecentTokens::new(Duration::from_millis(1));
        expiring.put([1; 32], Arc::new(token("ci")));
        std::thread::sleep(Duration::from_millis(5));
        assert!(expiring.get(&[1; 32]).is_none());
        let off = RecentTokens::new(Duration::ZERO);
        off.put([1; 32], Arc::new(token("ci")));
        assert!(off.get(&[1; 32]).is_none());
    }
}
