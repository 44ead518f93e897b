//! `/_eyrie/p/<project>/dg/<group>/d/<deployment>/jobs/<job>`: one job's status, each step
//! (name, kind, status in words and shape, attempts, duration, message) and the log tail of the
//! running (or last) step; readable without JavaScript.
//!
//! The page's parts are fragments of their own (`job_status.html`, `job_step.html`,
//! `job_log.html`), so that `console::live::job` sends each again, re-rendered, as the job
//! moves on.

use askama::Template;
use axum::{extract::Path, response::Response};
use eyrie_proto::v1 as pb;

use super::{href, id};
use crate::console::{PageError, SignedIn, api::Api, render, view};

/// Log lines shown of a step: its last ones.
pub const LOG_TAIL: usize = 200;
/// Lines asked of GetJobStepLog at once (the runner keeps at most 2000 per step).
const LOG_PAGE: i32 = 5000;

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: view::Chrome,
    job: JobSummary,
    steps: Vec<StepRow>,
    log: LogView,
    /// The live stream of a job that has not ended.
    events_url: Option<String>,
}

/// The job's own status, as the page's top shows it.
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// Its status.
    pub status: view::Badge,
    /// Queued or running: the page follows it live.
    pub active: bool,
    /// The action of its operation, as a verb.
    pub action: &'static str,
    /// The book phase it runs.
    pub phase: &'static str,
    /// The book it runs.
    pub book: String,
    /// Who caused it.
    pub actor: String,
    /// When it was queued, started and ended: (words, RFC 3339).
    pub queued: (String, String),
    /// When it started, if it did.
    pub started: (String, String),
    /// When it ended, if it did.
    pub ended: (String, String),
    /// How long it ran (so far).
    pub duration: String,
    /// Its outcome in words (failures).
    pub message: String,
    /// The job it retries, if any: (id, console path).
    pub retry_of: Option<(String, String)>,
}

/// One step's row.
pub struct StepRow {
    /// Index in the book, from 0 (the row's id is `step-{index}`).
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind, e.g. `k8s.apply`.
    pub uses: String,
    /// Its status.
    pub status: view::Badge,
    /// Attempts started.
    pub attempts: u32,
    /// How long it ran (so far); empty before it started.
    pub duration: String,
    /// Its last error or outcome in words.
    pub message: String,
}

/// The log tail of one step.
pub struct LogView {
    /// The step shown (its index and name); `None` before any step started.
    pub step: Option<(u32, String)>,
    /// Its last lines, each ending with a newline.
    pub text: String,
    /// Lines shown.
    pub shown: usize,
    /// Earlier lines not shown.
    pub earlier: usize,
    /// The step wrote more than the runner keeps.
    pub truncated: bool,
}

/// The job's status block alone (`id="job-status"`), as live updates send it.
#[derive(Template)]
#[template(path = "job_status.html")]
pub struct StatusFragment {
    /// The status.
    pub job: JobSummary,
}

/// One step's row alone (`<tr id="step-{index}">`), as live updates send it.
#[derive(Template)]
#[template(path = "job_step.html")]
pub struct StepFragment {
    /// The row.
    pub step: StepRow,
}

/// The log section alone (`id="log"`), as live updates send it when another step starts.
#[derive(Template)]
#[template(path = "job_log.html")]
pub struct LogFragment {
    /// The log shown.
    pub log: LogView,
}

/// The job `job` (a resource name) of the URL's segments; not found unless each is an id.
pub fn job_name(
    project: &str,
    group: &str,
    deployment: &str,
    job: &str,
) -> Result<String, PageError> {
    Ok(format!(
        "projects/{}/groups/{}/deployments/{}/jobs/{}",
        id(project)?,
        id(group)?,
        id(deployment)?,
        id(job)?
    ))
}

/// The console path of job `name` (`projects/p/groups/g/deployments/d/jobs/j`).
pub fn job_href(name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('/').collect();
    let [
        "projects",
        project,
        "groups",
        group,
        "deployments",
        deployment,
        "jobs",
        job,
    ] = segments.as_slice()
    else {
        return None;
    };
    Some(format!(
        "{}/jobs/{job}",
        href(project, Some(group), Some(deployment))
    ))
}

/// The console path of job `job` (an id) of deployment `deployment` (a resource name); empty
/// when `deployment` is not one.
pub fn job_of_deployment_href(deployment: &str, job: &str) -> String {
    job_href(&format!("{deployment}/jobs/{job}")).unwrap_or_default()
}

/// The job `deployment` runs now (its last operation's latest job), read with GetOperation when
/// the deployment carries its last operation by name only; `None` when none runs.
pub async fn running_job(api: &Api, deployment: &pb::Deployment) -> Option<String> {
    if deployment.running_job_count <= 0 {
        return None;
    }
    let operation = deployment.last_operation.as_ref()?;
    if let Some(job) = operation.jobs.last() {
        return Some(job.clone());
    }
    let found = api
        .deployments()
        .get_operation(pb::GetOperationRequest {
            name: operation.name.clone(),
        })
        .await
        .ok()?;
    found.into_inner().jobs.last().cloned()
}

/// A step's status in words, with a shape.
pub fn step_status(status: i32) -> view::Badge {
    let (label, icon, class) = match pb::StepStatus::try_from(status).unwrap_or_default() {
        pb::StepStatus::Pending => ("pending", "○", "status-pending"),
        pb::StepStatus::Running => ("running", "↻", "status-running"),
        pb::StepStatus::Succeeded => ("succeeded", "✓", "status-succeeded"),
        pb::StepStatus::Failed => ("failed", "✗", "status-failed"),
        pb::StepStatus::Skipped => ("skipped", "↷", "status-skipped"),
        pb::StepStatus::Unspecified => ("unknown", "?", "status-unknown"),
    };
    view::Badge { label, icon, class }
}

/// Whether a job in `status` may still change.
pub fn is_active(status: i32) -> bool {
    matches!(
        pb::JobStatus::try_from(status).unwrap_or_default(),
        pb::JobStatus::Queued | pb::JobStatus::Running | pb::JobStatus::Unspecified
    )
}

impl JobSummary {
    /// The summary of `job` as it is at `now`.
    pub fn new(job: &pb::Job, now: chrono::DateTime<chrono::Utc>) -> Self {
        let retry_of = (!job.retry_of.is_empty()).then(|| {
            (
                view::id_of(&job.retry_of).to_owned(),
                job_href(&job.retry_of).unwrap_or_default(),
            )
        });
        Self {
            id: view::id_of(&job.name).to_owned(),
            status: view::job_status(job.status),
            active: is_active(job.status),
            action: view::action(job.action),
            phase: view::phase(job.phase),
            book: job.book.clone(),
            actor: job.actor.clone(),
            queued: times(job.create_time.as_ref()),
            started: times(job.start_time.as_ref()),
            ended: times(job.end_time.as_ref()),
            duration: duration(job.start_time.as_ref(), job.end_time.as_ref(), now),
            message: job.message.clone(),
            retry_of,
        }
    }
}

impl StepRow {
    /// The row of `step` as it is at `now`.
    pub fn new(step: &pb::JobStep, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            index: step.index,
            name: step.name.clone(),
            uses: step.uses.clone(),
            status: step_status(step.status),
            attempts: step.attempts,
            duration: duration(step.start_time.as_ref(), step.end_time.as_ref(), now),
            message: step.message.clone(),
        }
    }
}

impl LogView {
    /// The log of `step` (`None`: no step started yet) from its `lines` (any number: the last
    /// [`LOG_TAIL`] are shown), of which `earlier` more came before.
    pub fn new(
        step: Option<&pb::JobStep>,
        lines: &[String],
        earlier: usize,
        truncated: bool,
    ) -> Self {
        let skip = lines.len().saturating_sub(LOG_TAIL);
        let shown = &lines[skip..];
        Self {
            step: step.map(|step| (step.index, step.name.clone())),
            text: shown.iter().map(|line| log_line(line)).collect(),
            shown: shown.len(),
            earlier: earlier + skip,
            truncated,
        }
    }
}

/// One log line as the log shows it: control characters but tabs dropped, ending with a
/// newline (templates escape it).
pub fn log_line(line: &str) -> String {
    let mut shown: String = line
        .chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect();
    shown.push('\n');
    shown
}

/// Log lines alone, escaped, as live updates append them to `#log-lines` (event `log`).
#[derive(Template)]
#[template(source = "{{ text }}", ext = "html")]
pub struct LogLines {
    /// The lines, each made by [`log_line`].
    pub text: String,
}

/// The step whose log the page shows: the running one, else the last one that started.
pub fn log_step(job: &pb::Job) -> Option<&pb::JobStep> {
    job.steps
        .iter()
        .find(|step| step.status() == pb::StepStatus::Running)
        .or_else(|| job.steps.iter().rev().find(|step| step.attempts > 0))
}

fn times(timestamp: Option<&prost_types::Timestamp>) -> (String, String) {
    (view::time(timestamp), view::datetime(timestamp))
}

fn to_chrono(timestamp: &prost_types::Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(timestamp.seconds, u32::try_from(timestamp.nanos).ok()?)
}

/// From `start` to `end` (or to `now`, with "so far"), in words; empty before the start.
pub fn duration(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let Some(start) = start.and_then(to_chrono) else {
        return String::new();
    };
    let (until, so_far) = match end.and_then(to_chrono) {
        Some(end) => (end, ""),
        None => (now, " so far"),
    };
    let millis = (until - start).num_milliseconds().max(0);
    let words = if millis < 10_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else if millis < 60_000 {
        format!("{} s", millis / 1000)
    } else if millis < 3_600_000 {
        format!("{} min {} s", millis / 60_000, millis % 60_000 / 1000)
    } else {
        format!(
            "{} h {} min",
            millis / 3_600_000,
            millis % 3_600_000 / 60_000
        )
    };
    format!("{words}{so_far}")
}

/// The log tail of `step` of job `job`: its last lines, how many came before, and whether the
/// runner dropped some.
async fn read_log(
    api: &Api,
    job: &str,
    step: u32,
) -> Result<(Vec<String>, usize, bool), PageError> {
    let response = api
        .jobs()
        .get_job_step_log(pb::GetJobStepLogRequest {
            job: job.to_owned(),
            step_index: step,
            page_size: LOG_PAGE,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    let skip = response.lines.len().saturating_sub(LOG_TAIL);
    let lines = response.lines[skip..]
        .iter()
        .map(|line| line.text.clone())
        .collect();
    Ok((lines, skip, response.truncated))
}

/// `GET /_eyrie/p/{project}/dg/{group}/d/{deployment}/jobs/{job}`.
pub async fn page(
    signed_in: SignedIn,
    Path((project, group, deployment, job)): Path<(String, String, String, String)>,
) -> Result<Response, PageError> {
    let name = job_name(&project, &group, &deployment, &job)?;
    let deployment_name = format!("projects/{project}/groups/{group}/deployments/{deployment}");
    let api = signed_in.api();
    let mut jobs = api.jobs();
    let (mut projects, mut groups, mut deployments) =
        (api.deployments(), api.deployments(), api.deployments());
    let (found, project_found, group_found, deployment_found) = tokio::try_join!(
        async {
            jobs.get_job(pb::GetJobRequest { name: name.clone() })
                .await
                .map_err(PageError::from)
        },
        async {
            projects
                .get_project(pb::GetProjectRequest {
                    name: format!("projects/{project}"),
                })
                .await
                .map_err(PageError::from)
        },
        async {
            groups
                .get_deployment_group(pb::GetDeploymentGroupRequest {
                    name: format!("projects/{project}/groups/{group}"),
                })
                .await
                .map_err(PageError::from)
        },
        async {
            deployments
                .get_deployment(pb::GetDeploymentRequest {
                    name: deployment_name.clone(),
                })
                .await
                .map_err(PageError::from)
        },
    )?;
    let found = found.into_inner();
    let deployment_found = deployment_found.into_inner();
    let now = chrono::Utc::now();
    let shown_step = log_step(&found);
    let (lines, earlier, truncated) = match shown_step {
        Some(step) => read_log(api, &name, step.index).await?,
        None => (Vec::new(), 0, false),
    };
    let summary = JobSummary::new(&found, now);
    let events_url = summary.active.then(|| {
        format!(
            "{}/jobs/{job}/events",
            href(&project, Some(&group), Some(&deployment))
        )
    });
    let page = JobPage {
        chrome: signed_in
            .chrome(format!("Job {}", summary.id))
            .crumb("Projects", "/_eyrie/")
            .crumb(
                project_found.into_inner().display_name,
                href(&project, None, None),
            )
            .crumb(
                group_found.into_inner().display_name,
                href(&project, Some(&group), None),
            )
            .crumb(
                deployment_found.display_name,
                href(&project, Some(&group), Some(&deployment)),
            ),
        steps: found
            .steps
            .iter()
            .map(|step| StepRow::new(step, now))
            .collect(),
        log: LogView::new(shown_step, &lines, earlier, truncated),
        job: summary,
        events_url,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use askama::Template as _;

    use super::*;

    #[test]
    fn job_names_and_paths_go_both_ways() {
        let name = job_name("acme", "web", "shop", "0190f5d2").unwrap();
        assert_eq!(
            name,
            "projects/acme/groups/web/deployments/shop/jobs/0190f5d2"
        );
        assert_eq!(
            job_href(&name).unwrap(),
            "/_eyrie/p/acme/dg/web/d/shop/jobs/0190f5d2"
        );
        assert_eq!(
            job_of_deployment_href("projects/acme/groups/web/deployments/shop", "0190f5d2"),
            "/_eyrie/p/acme/dg/web/d/shop/jobs/0190f5d2"
        );
        assert!(job_name("acme", "web", "shop", "Not%2Fan-id").is_err());
        assert_eq!(job_href("projects/acme/other"), None);
    }

    #[test]
    fn durations_and_log_lines_read_well() {
        let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
        let now = chrono::DateTime::from_timestamp(1_000_100, 0).unwrap();
        assert_eq!(duration(None, None, now), "");
        assert_eq!(
            duration(Some(&at(1_000_000)), Some(&at(1_000_002)), now),
            "2.0 s"
        );
        assert_eq!(
            duration(Some(&at(1_000_000)), None, now),
            "1 min 40 s so far"
        );
        assert_eq!(log_line("<b>\u{1b}[1m\r&</b>"), "<b>[1m&</b>\n");
        let appended = LogLines {
            text: log_line("<script>"),
        }
        .render()
        .unwrap();
        assert!(
            !appended.contains('<') && appended.ends_with("script&#62;\n"),
            "{appended}"
        );
    }
}
