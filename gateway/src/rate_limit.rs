//! Per-token rate limit: a token bucket per caller, so that one busy client cannot take the
//! gateway from the others.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Tokens in a bucket: fractional, refilled continuously.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    available: f64,
    updated: Instant,
}

/// Buckets by caller.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// Above this many callers, buckets that are full again are forgotten.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    /// `per_second` calls per second on average, up to `burst` at once. A rate of 0 disables
    /// the limit.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Arc::default(),
        }
    }

    /// Takes one call from `caller`'s bucket; `Err` holds how long until one is available.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        self.check_at(caller, Instant::now())
    }

    fn check_at(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, bucket| {
                bucket.available + now.duration_since(bucket.updated).as_secs_f64() * rate < burst
            });
        }
        // A known caller's bucket is found without making its name a key again.
        if !buckets.contains_key(caller) {
            let full = Bucket {
                available: self.burst,
                updated: now,
            };
            buckets.insert(caller.to_owned(), full);
        }
        let bucket = buckets.get_mut(caller).expect("inserted above");
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.available = (bucket.available + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.available) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_calls_come_back_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at("a", start), Ok(()));
        }
        // The bucket is empty: the next call is a tenth of a second away at 10 calls/s.
        let wait = limiter.check_at("a", start).unwrap_err();
        assert!(
            wait.abs_diff(Duration::from_millis(100)) < Duration::from_micros(10),
            "{wait:?}"
        );
        // Other callers have buckets of their own.
        assert_eq!(limiter.check_at("b", start), Ok(()));
        let refilled = start + Duration::from_millis(100);
        assert_eq!(limiter.check_at("a", refilled), Ok(()));
        assert!(
            limiter.check_at("a", refilled).is_err(),
            "one call came back in 100 ms, not two"
        );
        assert!(RateLimiter::new(0.0, 1).check_at("a", start).is_ok());
    }
}
