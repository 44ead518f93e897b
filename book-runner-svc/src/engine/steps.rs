//! Running one step of a book on one cluster. Steps only describe what they do in their log:
//! never a secret value.

use std::{collections::BTreeMap, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::{Rng as _, distr::Alphanumeric};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use self::{copy_secret::copy_secret, http_check::http_check};
use crate::{
    cluster::{
        ApplyOutcome, Cluster, ClusterError, Condition, DeleteOutcome, ObjectRef, WaitProgress,
        WaitSpec,
    },
    domain::{
        hosts::AllowedHost,
        manifest::{label_map, parse_documents, parse_object},
        step_kind::StepKind,
    },
};

mod copy_secret;
mod http_check;

/// Where a step writes the lines people see while it runs.
pub type StepLog = UnboundedSender<String>;

/// How often a URL is polled.
const POLL: Duration = Duration::from_millis(200);

/// Runs a step of `kind` with rendered `arguments` on `cluster`; `http.check` may reach what
/// the rules of [`check_host`](crate::domain::hosts::check_host) and `allowed_hosts` let it.
/// Runs until done: the caller bounds it with the step's timeout and cancellation.
pub async fn run_step(
    kind: StepKind,
    arguments: &BTreeMap<String, String>,
    cluster: &dyn Cluster,
    allowed_hosts: &[AllowedHost],
    log: &StepLog,
) -> Result<(), String> {
    let say = |line: String| {
        let _ = log.send(line);
    };
    // What a pending wait waits for, each time it changes, as the step's own lines.
    let progress = |line: String| {
        let _ = log.send(line);
    };
    match kind {
        StepKind::Apply => {
            let force = argument(arguments, "force").unwrap_or("false").trim() == "true";
            for manifest in parse_documents(required(arguments, "manifest")?)? {
                let target = ObjectRef::of_manifest(&manifest).map_err(describe)?;
                let outcome = cluster.apply(&manifest, force).await.map_err(describe)?;
                say(format!("{target} {}", applied(outcome)));
            }
            Ok(())
        }
        StepKind::Patch => {
            let target = object(arguments)?;
            let patch = parse_object(required(arguments, "patch")?)?;
            cluster
                .merge_patch(&target, &patch)
                .await
                .map_err(describe)?;
            say(format!("{target} patched"));
            Ok(())
        }
        StepKind::Delete => {
            let target = object(arguments)?;
            match cluster.delete(&target).await.map_err(describe)? {
                DeleteOutcome::Deleted => say(format!("{target} deleted")),
                DeleteOutcome::NotFound => say(format!("{target} already absent")),
            }
            Ok(())
        }
        StepKind::Wait => {
            let target = object(arguments)?;
            let wait = wait_spec(arguments)?;
            say(format!("waiting for {target} to be {wait}"));
            // A lost outcome fails the step like any error: with `retries`, the executor runs
            // it again after its backoff, which judges the cluster again and, unless someone
            // fixed it meanwhile, fails at once.
            cluster
                .wait(&target, &wait, &progress)
                .await
                .map_err(describe)?;
            say(format!("{target} is {}", wait.condition));
            Ok(())
        }
        StepKind::Secret => create_secret(arguments, cluster, &say).await,
        StepKind::CopySecret => copy_secret(arguments, cluster, &say).await,
        StepKind::Job => run_job(arguments, cluster, &say, &progress).await,
        StepKind::HttpCheck => http_check(arguments, allowed_hosts, &say).await,
    }
}

fn argument<'a>(arguments: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    arguments
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.trim().is_empty())
}

fn required<'a>(arguments: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    argument(arguments, name).ok_or_else(|| format!("argument {name} is empty"))
}

fn object(arguments: &BTreeMap<String, String>) -> Result<ObjectRef, String> {
    Ok(ObjectRef {
        api_version: required(arguments, "api_version")?.trim().to_owned(),
        kind: required(arguments, "kind")?.trim().to_owned(),
        namespace: argument(arguments, "namespace").map(|ns| ns.trim().to_owned()),
        name: required(arguments, "name")?.trim().to_owned(),
    })
}

/// The `condition` of a wait step, and the failures its `fail_when` declares.
fn wait_spec(arguments: &BTreeMap<String, String>) -> Result<WaitSpec, String> {
    let wait = WaitSpec::new(Condition::parse(required(arguments, "condition")?)?);
    Ok(match argument(arguments, "fail_when") {
        Some(text) => wait.failing_when(
            WaitSpec::parse_fail_when(text).map_err(|err| format!("fail_when {err}"))?,
        ),
        None => wait,
    })
}

fn describe(err: ClusterError) -> String {
    err.to_string()
}

fn applied(outcome: ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::Created => "created",
        ApplyOutcome::Configured => "configured",
        ApplyOutcome::Unchanged => "unchanged",
    }
}

/// Creates a Secret of generated values unless it exists: generated values are never
/// regenerated, and never leave this function except into the cluster.
async fn create_secret(
    arguments: &BTreeMap<String, String>,
    cluster: &dyn Cluster,
    say: &impl Fn(String),
) -> Result<(), String> {
    let name = required(arguments, "name")?.trim();
    let keys: Vec<&str> = required(arguments, "keys")?
        .split(',')
        .map(str::trim)
        .collect();
    let length = match argument(arguments, "length") {
        Some(length) => length
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("length {length:?} is not a number"))?,
        None => 32,
    };
    let mut data = serde_json::Map::new();
    for key in &keys {
        let value: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(length)
            .map(char::from)
            .collect();
        data.insert((*key).to_owned(), Value::String(STANDARD.encode(value)));
    }
    let mut labels = serde_json::Map::new();
    labels.insert("app.kubernetes.io/managed-by".to_owned(), json!("eyrie"));
    if let Some(text) = argument(arguments, "labels") {
        for (key, value) in label_map(text)? {
            labels.insert(key, Value::String(value));
        }
    }
    let mut metadata = json!({ "name": name, "labels": labels });
    if let Some(namespace) = argument(arguments, "namespace") {
        metadata["namespace"] = json!(namespace.trim());
    }
    let manifest = json!({ "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "data": data });
    let target = ObjectRef::of_manifest(&manifest).map_err(describe)?;
    if cluster
        .create_if_absent(&manifest)
        .await
        .map_err(describe)?
    {
        say(format!(
            "{target} created with generated keys {}",
            keys.join(", ")
        ));
    } else {
        say(format!("{target} exists: its values are kept"));
    }
    Ok(())
}

/// Applies a Kubernetes Job and waits until it completes, with the rules of any `complete`
/// wait: a Failed condition or a stuck pod fails the step with the cluster's reason.
async fn run_job(
    arguments: &BTreeMap<String, String>,
    cluster: &dyn Cluster,
    say: &impl Fn(String),
    progress: &WaitProgress<'_>,
) -> Result<(), String> {
    let mut documents = parse_documents(required(arguments, "manifest")?)?;
    let manifest = documents.pop().ok_or("the manifest holds no Job")?;
    let target = ObjectRef::of_manifest(&manifest).map_err(describe)?;
    let outcome = cluster.apply(&manifest, false).await.map_err(describe)?;
    say(format!(
        "{target} {}; waiting for it to complete",
        applied(outcome)
    ));
    // The Job exists now: if it disappears (deleted, or a TTL after it ended), whether it
    // succeeded can no longer be known.
    let wait = WaitSpec::new(Condition::Complete).failing_when(vec![Condition::Gone]);
    cluster
        .wait(&target, &wait, progress)
        .await
        .map_err(describe)?;
    say(format!("{target} succeeded"));
    Ok(())
}

#[cfg(test)]
mod tests;
