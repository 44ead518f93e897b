//! Waiting for an object: what a wait asks ([`WaitSpec`]), the [`Verdict`] on what the
//! cluster shows, and [`Waiter`], the part of every driver's wait loop that reads pods and
//! tells what the wait is waiting for.
//!
//! Judging is pure (no I/O) and shared, so every driver reads the cluster in its own way
//! (watching, polling) and all agree on what "done" and "lost" mean. A wait ends early, failed,
//! when its outcome can no longer come without someone changing something: the object is in a
//! state the book declared a failure (`fail_when`), its controller gave up (a Deployment past
//! its progress deadline, a failed Job), or a pod of its current template is stuck (see
//! [`pods`]).

#[cfg(test)]
mod against_simulation;
mod pods;
mod rules;
#[cfg(test)]
mod tests;

use std::{fmt, time::Duration};

// Tokio's clock, so that tests can run a wait's intervals and grace on paused time.
use tokio::time::Instant;

use serde_json::Value;

pub use self::pods::PodQuery;
use super::{Cluster, ClusterError, Condition, ObjectRef};

/// Receives a line each time what a pending wait waits for changes (not at every look).
pub type WaitProgress<'a> = dyn Fn(String) + Send + Sync + 'a;

/// What a wait concludes from one look at the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The condition holds: the wait is over.
    Holds,
    /// Not yet; says what is awaited, e.g. `2 of 3 new replicas updated`.
    Pending(String),
    /// It will not hold without someone changing something; the cluster's reason.
    Failed(String),
}

/// How long a declared failure must last before it counts when the status does not say it
/// describes the current generation. Operators write `observedGeneration` only after a
/// reconcile that succeeded (the Percona XtraDB Cluster operator does), so a spec the operator
/// refuses leaves its error next to the previous generation for good, and a cluster that was
/// never ready may show the error of the spec just replaced until its next reconcile, which
/// operators run every few seconds.
pub const LINGERING_FAILURE_GRACE: Duration = Duration::from_secs(30);

/// What a `k8s.wait` step waits for: its condition, and the states it declares failures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WaitSpec {
    /// What ends the wait.
    pub condition: Condition,
    /// Conditions that end it as failed. One counts at once when the status says it describes
    /// the current generation (or the object has none), and otherwise only once it has held
    /// for [`lingering_grace`](Self::lingering_grace) without a break: a stale `error` from
    /// the previous spec does not fail the new one, and one the operator keeps reporting does.
    pub fail_when: Vec<Condition>,
    /// See [`LINGERING_FAILURE_GRACE`].
    pub lingering_grace: Duration,
}

impl WaitSpec {
    /// A wait for `condition` with no declared failure.
    pub fn new(condition: Condition) -> Self {
        Self {
            condition,
            fail_when: Vec::new(),
            lingering_grace: LINGERING_FAILURE_GRACE,
        }
    }

    /// The same wait, counting a failure the status does not tie to the current generation
    /// after `grace` (tests use a short one).
    #[must_use]
    pub fn with_lingering_grace(mut self, grace: Duration) -> Self {
        self.lingering_grace = grace;
        self
    }

    /// The same wait, failing when any of `fail_when` holds.
    #[must_use]
    pub fn failing_when(mut self, fail_when: Vec<Condition>) -> Self {
        self.fail_when = fail_when;
        self
    }

    /// Reads a `fail_when` argument: conditions in the text forms of `condition`, separated by
    /// whitespace; books write one per line. Whitespace separates, because a book's scalar
    /// argument reaches the step with its lines folded into one; so a `field:` value here
    /// cannot hold a space, and a misspelt second condition is refused instead of read as the
    /// end of the first one's value. The error names the condition, for the book's author.
    pub fn parse_fail_when(text: &str) -> Result<Vec<Condition>, String> {
        let conditions = text
            .split_whitespace()
            .enumerate()
            .map(|(index, word)| {
                Condition::parse(word).map_err(|err| format!("condition {}: {err}", index + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if conditions.is_empty() {
            return Err("holds no condition: write one per line, e.g. \
                        field:status.state=error"
                .to_owned());
        }
        Ok(conditions)
    }

    /// Which pods bear on the verdict for `object` of `kind`, if any (see [`PodQuery::of`]).
    /// The kind is the wait's, not the object's: items of a listing carry none.
    pub fn pod_query(&self, kind: &str, object: &Value) -> Option<PodQuery> {
        PodQuery::of(&self.condition, kind, object)
    }

    /// Judges the object (`None`: it does not exist) and the current pods of its workload
    /// (empty when [`pod_query`](Self::pod_query) wants none).
    pub fn judge(&self, object: Option<&Value>, pods: &[Value]) -> Verdict {
        if let Some(failure) = self.failure(object) {
            return Verdict::Failed(failure);
        }
        match rules::judge(&self.condition, object) {
            Verdict::Pending(why) => match (pods::stuck(pods), pods::hint(pods)) {
                (Some(stuck), _) => Verdict::Failed(stuck),
                (None, Some(hint)) => Verdict::Pending(format!("{why}; {hint}")),
                (None, None) => Verdict::Pending(why),
            },
            verdict => verdict,
        }
    }

    /// The first declared failure that holds for the current generation, with the object's
    /// own explanation.
    fn failure(&self, object: Option<&Value>) -> Option<String> {
        if object.is_some_and(|object| !rules::says_current(object)) {
            return None;
        }
        self.failure_in(object)
    }

    /// A declared failure that holds if the status is taken as current although it does not
    /// say so: it counts once it has lasted [`lingering_grace`](Self::lingering_grace).
    fn lingering_failure(&self, object: Option<&Value>) -> Option<String> {
        if self.fail_when.is_empty() {
            // Nothing to find: spare every look the copy below.
            return None;
        }
        let object = object.filter(|object| !rules::says_current(object))?;
        self.failure_in(Some(&rules::as_if_current(object)))
    }

    fn failure_in(&self, object: Option<&Value>) -> Option<String> {
        let failure = self
            .fail_when
            .iter()
            .find(|fail| rules::judge(fail, object) == Verdict::Holds)?;
        let Some(object) = object else {
            return Some("it no longer exists".to_owned());
        };
        let own = match failure {
            Condition::ConditionTrue(kind) => rules::condition_explanation(object, kind),
            _ => None,
        }
        .or_else(|| rules::explanation(object));
        Some(match own {
            Some(own) => format!("{failure}: {own}"),
            None => failure.to_string(),
        })
    }
}

impl fmt::Display for WaitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.condition)?;
        if !self.fail_when.is_empty() {
            let failures: Vec<String> = self.fail_when.iter().map(ToString::to_string).collect();
            write!(f, " (failing when {})", failures.join(" or "))?;
        }
        Ok(())
    }
}

/// The state of one wait in a driver's loop: the driver hands it every look at the object,
/// and it reads the pods when they matter (at most once per interval), judges, and tells
/// progress when what is awaited changes.
pub(super) struct Waiter<'a> {
    target: &'a ObjectRef,
    spec: &'a WaitSpec,
    progress: &'a WaitProgress<'a>,
    pod_interval: Duration,
    said: Option<String>,
    query: Option<PodQuery>,
    pods: Vec<Value>,
    pods_read_at: Option<Instant>,
    /// The pods cannot be read (e.g. the identity may not list them): stop asking, and judge
    /// the object alone.
    pods_unreadable: bool,
    /// Since when a declared failure has held on a status that does not say it is current.
    lingering_since: Option<Instant>,
}

impl<'a> Waiter<'a> {
    /// A wait for `spec` on `target`, reading pods at most every `pod_interval`.
    pub(super) fn new(
        target: &'a ObjectRef,
        spec: &'a WaitSpec,
        progress: &'a WaitProgress<'a>,
        pod_interval: Duration,
    ) -> Self {
        Self {
            target,
            spec,
            progress,
            pod_interval,
            said: None,
            query: None,
            pods: Vec::new(),
            pods_read_at: None,
            pods_unreadable: false,
            lingering_since: None,
        }
    }

    /// Whether the verdict may change while the object does not (its pods change, or a
    /// lingering failure's grace runs out): then the driver looks again every
    /// [`look_interval`](Self::look_interval) even without a new version.
    pub(super) fn looks_again(&self) -> bool {
        (self.query.is_some() && !self.pods_unreadable) || self.lingering_since.is_some()
    }

    /// How often the driver looks again while [`looks_again`](Self::looks_again).
    pub(super) fn look_interval(&self) -> Duration {
        self.pod_interval
    }

    /// Judges one look at the object (`None`: absent); `Some` once the wait is over.
    pub(super) async fn observe<C: Cluster + ?Sized>(
        &mut self,
        cluster: &C,
        object: Option<&Value>,
    ) -> Option<Result<(), ClusterError>> {
        let query = object.and_then(|object| self.spec.pod_query(&self.target.kind, object));
        if query != self.query {
            // Another template or revision: the pods read so far are not its pods.
            self.query = query;
            self.pods.clear();
            self.pods_read_at = None;
        }
        self.read_pods(cluster).await;
        let verdict = match self.spec.judge(object, &self.pods) {
            Verdict::Pending(why) => self.lingering(object).unwrap_or(Verdict::Pending(why)),
            verdict => {
                self.lingering_since = None;
                verdict
            }
        };
        match verdict {
            Verdict::Holds => Some(Ok(())),
            Verdict::Failed(reason) => Some(Err(ClusterError::WaitFailed {
                object: self.target.to_string(),
                reason,
            })),
            Verdict::Pending(why) => {
                if self.said.as_ref() != Some(&why) {
                    (self.progress)(format!("{}: {why}", self.target));
                    self.said = Some(why);
                }
                None
            }
        }
    }

    /// A declared failure the status does not tie to the current generation: `Failed` once
    /// it has held without a break for the grace, else `None` (and the clock starts or stops).
    fn lingering(&mut self, object: Option<&Value>) -> Option<Verdict> {
        let Some(failure) = self.spec.lingering_failure(object) else {
            self.lingering_since = None;
            return None;
        };
        let since = *self.lingering_since.get_or_insert_with(Instant::now);
        (since.elapsed() >= self.spec.lingering_grace).then(|| {
            Verdict::Failed(format!(
                "{failure} (for {}s, although the status does not say it describes the \
                 current generation)",
                self.spec.lingering_grace.as_secs()
            ))
        })
    }

    async fn read_pods<C: Cluster + ?Sized>(&mut self, cluster: &C) {
        let due = self
            .pods_read_at
            .is_none_or(|read_at| read_at.elapsed() >= self.pod_interval);
        let Some(query) = self.query.as_ref().filter(|_| due && !self.pods_unreadable) else {
            return;
        };
        self.pods_read_at = Some(Instant::now());
        match current_pods(cluster, query).await {
            Ok(pods) => self.pods = pods,
            // Reaching the cluster failed this time; the next look tries again.
            Err(ClusterError::Unavailable(problem)) => {
                tracing::debug!(object = %self.target, %problem, "cannot read pods now");
            }
            Err(err) => {
                self.pods_unreadable = true;
                (self.progress)(format!(
                    "cannot read the pods of {}, so a stuck pod goes unnoticed: {err}",
                    self.target
                ));
            }
        }
    }
}

/// The pods of `query`'s current template. ReplicaSets that cannot be read leave every
/// matching pod counted (see [`pods`]).
async fn current_pods<C: Cluster + ?Sized>(
    cluster: &C,
    query: &PodQuery,
) -> Result<Vec<Value>, ClusterError> {
    let pods = cluster
        .list(&query.namespace, "v1", "Pod", &query.selector)
        .await?;
    let replica_sets = if query.needs_replica_sets() {
        cluster
            .list(&query.namespace, "apps/v1", "ReplicaSet", &query.selector)
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(query.current(pods, &replica_sets))
}
