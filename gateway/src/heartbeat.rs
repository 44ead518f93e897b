//! When an idle stream is due a heartbeat.
//!
//! A new timer per wait would be set and cleared at every message: with a thousand watchers of
//! one job that is a thousand timer-wheel updates per event, more than the event costs to
//! send. Each stream keeps one timer instead, moved only when it fires.

use std::{pin::Pin, time::Duration};

use tokio::time::{Instant, Sleep};

/// The heartbeat of one stream: due once nothing was sent for `interval`.
pub struct Heartbeat {
    interval: Duration,
    last_sent: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Heartbeat {
    /// A stream that has just started (nothing is due before `interval`).
    pub fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            last_sent: now,
            timer: Box::pin(tokio::time::sleep_until(now + interval)),
        }
    }

    /// Something was sent: the next heartbeat is due `interval` from now.
    pub fn sent(&mut self) {
        self.last_sent = Instant::now();
    }

    /// Resolves once nothing was sent for `interval`, and counts the heartbeat as sent.
    /// Cancel-safe: dropped before it resolves, it leaves the heartbeat as it was.
    pub async fn due(&mut self) {
        loop {
            self.timer.as_mut().await;
            let due = self.last_sent + self.interval;
            let now = Instant::now();
            if now >= due {
                self.last_sent = now;
                self.timer.as_mut().reset(now + self.interval);
                return;
            }
            // Messages went out since the timer was set: wait out the rest of the interval.
            self.timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_is_due_only_after_an_interval_with_nothing_sent() {
        let interval = Duration::from_secs(10);
        let started = Instant::now();
        let mut heartbeat = Heartbeat::new(interval);
        tokio::time::sleep(Duration::from_secs(6)).await;
        heartbeat.sent();
        heartbeat.due().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(16),
            "an interval after the last message, not after the start"
        );
        heartbeat.due().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(26),
            "then one every interval while idle"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_dropped_early_leaves_the_heartbeat_due_on_time() {
        let interval = Duration::from_secs(10);
        let started = Instant::now();
        let mut heartbeat = Heartbeat::new(interval);
        let dropped = tokio::time::timeout(Duration::from_secs(4), heartbeat.due()).await;
        assert!(dropped.is_err());
        heartbeat.due().await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
