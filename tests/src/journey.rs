//! The seed's journey as a user walks it, through the gateway only: clients carrying a token,
//! the waits a user does (a job's stream to its end, an operation to its end), and reading what
//! the books left in a `directory` cluster's folder.

mod controller;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use eyrie_proto::v1::{
    self as pb, access_service_client::AccessServiceClient,
    deployment_service_client::DeploymentServiceClient, job_service_client::JobServiceClient,
    version_service_client::VersionServiceClient,
};
use serde_json::Value;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

pub use controller::{Controllers, Faults, yaml_files};

use crate::auth::with_token;

/// Longest a job may take from its first event to its end (a built-in book with every wait
/// answered by [`Controllers`] takes about a second).
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// The public API through the gateway, as one caller (one token).
#[derive(Clone)]
pub struct Gateway {
    /// `eyrie.v1.DeploymentService`.
    pub deployments: DeploymentServiceClient<Channel>,
    /// `eyrie.v1.JobService`.
    pub jobs: JobServiceClient<Channel>,
    /// `eyrie.v1.VersionService`.
    pub versions: VersionServiceClient<Channel>,
    /// `eyrie.v1.AccessService`.
    pub access: AccessServiceClient<Channel>,
    token: String,
}

impl Gateway {
    /// Clients on `channel` (to the gateway) sending `token`.
    pub fn new(channel: Channel, token: impl Into<String>) -> Self {
        Self {
            deployments: DeploymentServiceClient::new(channel.clone()),
            jobs: JobServiceClient::new(channel.clone()),
            versions: VersionServiceClient::new(channel.clone()),
            access: AccessServiceClient::new(channel),
            token: token.into(),
        }
    }

    /// The same clients, sending another token.
    pub fn as_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            ..self.clone()
        }
    }

    /// `message` with this caller's token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        with_token(&self.token, message)
    }

    /// The caller's token resource name (`tokens/...`), the actor of its actions.
    pub async fn who_am_i(&mut self) -> anyhow::Result<String> {
        let request = self.request(pb::WhoAmIRequest {});
        let token = self.access.who_am_i(request).await?.into_inner().token;
        Ok(token.context("WhoAmI without a token")?.name)
    }

    /// Creates token `id` holding `role` on `project`; returns its secret.
    pub async fn create_token(
        &mut self,
        id: &str,
        project: &str,
        role: pb::Role,
    ) -> anyhow::Result<String> {
        let request = self.request(pb::CreateTokenRequest {
            token_id: id.to_owned(),
            token: Some(pb::Token {
                display_name: id.to_owned(),
                role_bindings: vec![pb::RoleBinding {
                    project: project.to_owned(),
                    role: role.into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self.access.create_token(request).await?.into_inner().secret)
    }

    /// Creates project `id`.
    pub async fn create_project(
        &mut self,
        id: &str,
        display_name: &str,
    ) -> anyhow::Result<pb::Project> {
        let request = self.request(pb::CreateProjectRequest {
            project_id: id.to_owned(),
            project: Some(pb::Project {
                display_name: display_name.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self.deployments.create_project(request).await?.into_inner())
    }

    /// Creates scope `id` of `project`.
    pub async fn create_scope(
        &mut self,
        project: &str,
        id: &str,
        display_name: &str,
        allow_drop: bool,
    ) -> anyhow::Result<pb::Scope> {
        let request = self.request(pb::CreateScopeRequest {
            parent: project.to_owned(),
            scope_id: id.to_owned(),
            scope: Some(pb::Scope {
                display_name: display_name.to_owned(),
                allow_drop,
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self.deployments.create_scope(request).await?.into_inner())
    }

    /// Creates cluster `id` of `project`, kept in the folder `root` (driver `directory`).
    pub async fn create_directory_cluster(
        &mut self,
        project: &str,
        id: &str,
        root: &Path,
    ) -> anyhow::Result<pb::Cluster> {
        let request = self.request(pb::CreateClusterRequest {
            parent: project.to_owned(),
            cluster_id: id.to_owned(),
            cluster: Some(pb::Cluster {
                display_name: format!("Folder {id}"),
                connection: Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        path: root.display().to_string(),
                        simulated: false,
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self.deployments.create_cluster(request).await?.into_inner())
    }

    /// Creates cluster `id` of `project`, a Kubernetes API server reached through the
    /// kubeconfig at `kubeconfig` (driver `kubernetes`).
    pub async fn create_kubernetes_cluster(
        &mut self,
        project: &str,
        id: &str,
        kubeconfig: &str,
    ) -> anyhow::Result<pb::Cluster> {
        let request = self.request(pb::CreateClusterRequest {
            parent: project.to_owned(),
            cluster_id: id.to_owned(),
            cluster: Some(pb::Cluster {
                display_name: format!("Kubernetes {id}"),
                connection: Some(pb::cluster::Connection::Kubernetes(
                    pb::KubernetesConnection {
                        kubeconfig_path: kubeconfig.to_owned(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self.deployments.create_cluster(request).await?.into_inner())
    }

    /// Creates group `id` of `project` for deployments of `deployment_type`, with the built-in
    /// books of that type.
    pub async fn create_group(
        &mut self,
        project: &str,
        id: &str,
        deployment_type: pb::DeploymentType,
    ) -> anyhow::Result<pb::DeploymentGroup> {
        let request = self.request(pb::CreateDeploymentGroupRequest {
            parent: project.to_owned(),
            deployment_group_id: id.to_owned(),
            deployment_group: Some(pb::DeploymentGroup {
                display_name: id.to_owned(),
                r#type: deployment_type.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self
            .deployments
            .create_deployment_group(request)
            .await?
            .into_inner())
    }

    /// Creates project `id` holding scope `dev`, the `directory` cluster `local` kept in the
    /// folder `root`, group `web` (no type) and its deployment `shop` of `nginx:1.27`.
    pub async fn create_shop(
        &mut self,
        id: &str,
        display_name: &str,
        root: &Path,
    ) -> anyhow::Result<pb::Deployment> {
        let project = format!("projects/{id}");
        self.create_project(id, display_name).await?;
        self.create_scope(&project, "dev", "Dev", true).await?;
        self.create_directory_cluster(&project, "local", root)
            .await?;
        self.create_group(&project, "web", pb::DeploymentType::None)
            .await?;
        let request = self.request(pb::CreateDeploymentRequest {
            parent: format!("{project}/groups/web"),
            deployment_id: "shop".into(),
            deployment: Some(pb::Deployment {
                display_name: "Shop".into(),
                scope: format!("{project}/scopes/dev"),
                clusters: vec![format!("{project}/clusters/local")],
                image: "nginx:1.27".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(self
            .deployments
            .create_deployment(request)
            .await?
            .into_inner())
    }

    /// The deployment as it is now.
    pub async fn deployment(&mut self, name: &str) -> anyhow::Result<pb::Deployment> {
        let request = self.request(pb::GetDeploymentRequest {
            name: name.to_owned(),
        });
        Ok(self.deployments.get_deployment(request).await?.into_inner())
    }

    /// The operation as it is now.
    pub async fn operation(&mut self, name: &str) -> anyhow::Result<pb::Operation> {
        let request = self.request(pb::GetOperationRequest {
            name: name.to_owned(),
        });
        Ok(self.deployments.get_operation(request).await?.into_inner())
    }

    /// Waits (bounded) until the operation has started its job number `index` (from 0) or has
    /// ended; returns it as it is then.
    pub async fn operation_with_job(
        &mut self,
        name: &str,
        index: usize,
    ) -> anyhow::Result<pb::Operation> {
        self.follow_operation(name, |operation| {
            operation.jobs.len() > index || operation.status() != pb::OperationStatus::Running
        })
        .await
    }

    /// Waits (bounded) until the operation has ended; returns it.
    pub async fn ended(&mut self, name: &str) -> anyhow::Result<pb::Operation> {
        self.follow_operation(name, |operation| {
            operation.status() != pb::OperationStatus::Running
        })
        .await
    }

    /// Follows the operation with WatchOperation until a form of it satisfies `done`.
    async fn follow_operation(
        &mut self,
        name: &str,
        done: impl Fn(&pb::Operation) -> bool,
    ) -> anyhow::Result<pb::Operation> {
        let request = self.request(pb::WatchOperationRequest {
            name: name.to_owned(),
        });
        let mut stream = self
            .deployments
            .watch_operation(request)
            .await?
            .into_inner();
        let wait = async {
            while let Some(message) = stream.next().await {
                if let Some(pb::watch_operation_response::Kind::Operation(operation)) =
                    message?.kind
                    && done(&operation)
                {
                    return anyhow::Ok(operation);
                }
            }
            anyhow::bail!("the stream of operation {name} ended before it got there")
        };
        tokio::time::timeout(JOB_TIMEOUT, wait)
            .await
            .with_context(|| format!("operation {name} did not get there in {JOB_TIMEOUT:?}"))?
    }

    /// Watches the job from its first event until its stream ends (the job ended); returns
    /// every event, heartbeats left out.
    pub async fn watch_job(&mut self, job: &str) -> anyhow::Result<Vec<pb::JobEvent>> {
        let request = self.request(pb::WatchJobRequest {
            name: job.to_owned(),
            after_sequence: 0,
        });
        let mut stream = self.jobs.watch_job(request).await?.into_inner();
        let collect = async {
            let mut events = Vec::new();
            while let Some(message) = stream.next().await {
                if let Some(pb::watch_job_response::Kind::Event(event)) = message?.kind {
                    events.push(event);
                }
            }
            anyhow::Ok(events)
        };
        tokio::time::timeout(JOB_TIMEOUT, collect)
            .await
            .with_context(|| format!("job {job} did not end in {JOB_TIMEOUT:?}"))?
    }

    /// The job as it is now.
    pub async fn job(&mut self, name: &str) -> anyhow::Result<pb::Job> {
        let request = self.request(pb::GetJobRequest {
            name: name.to_owned(),
        });
        Ok(self.jobs.get_job(request).await?.into_inner())
    }
}

/// What a watched job did, step by step, read from its events: an error unless the events are
/// the whole life of a job that ran `steps` steps, each started then succeeded (or skipped by
/// its `if:`, with the reason), in order, and ended with SUCCEEDED.
pub fn check_succeeded(events: &[pb::JobEvent], steps: usize) -> anyhow::Result<()> {
    use pb::job_event::Kind;

    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    if sequences != expected {
        bail!("events are not numbered 1, 2, ... without gaps: {sequences:?}");
    }
    let mut next_step = 0;
    let mut running = None;
    for event in events {
        match &event.kind {
            Some(Kind::StepStarted(started)) => {
                // A retried step starts again without having ended.
                let in_order = started.step_index == next_step
                    && running.is_none_or(|index| index == started.step_index);
                if !in_order {
                    bail!("step {} started out of order", started.step_index);
                }
                running = Some(started.step_index);
            }
            Some(Kind::StepSucceeded(done)) => {
                if running != Some(done.step_index) {
                    bail!("step {} succeeded without starting", done.step_index);
                }
                running = None;
                next_step += 1;
            }
            Some(Kind::StepSkipped(skipped)) => {
                if skipped.step_index != next_step || running.is_some() || skipped.reason.is_empty()
                {
                    bail!(
                        "step {} skipped out of order or without a reason",
                        skipped.step_index
                    );
                }
                next_step += 1;
            }
            Some(Kind::StepFailed(failed)) => {
                bail!("step {} failed: {}", failed.step_index, failed.error)
            }
            _ => {}
        }
    }
    if next_step as usize != steps {
        bail!("{next_step} of {steps} steps succeeded");
    }
    match events.last().and_then(|e| e.kind.as_ref()) {
        Some(Kind::JobEnded(ended)) if ended.status() == pb::JobStatus::Succeeded => Ok(()),
        other => bail!("the last event is not a successful end: {other:?}"),
    }
}

/// A `directory` cluster's folder, read as the books left it.
#[derive(Debug, Clone)]
pub struct ClusterFolder {
    root: PathBuf,
}

impl ClusterFolder {
    /// The cluster kept under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object stored at `<namespace>/<kind>/<name>.yaml` (lowercase kind), if any.
    pub fn object(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        let path = self
            .root
            .join(namespace)
            .join(kind.to_ascii_lowercase())
            .join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_saphyr::from_str(&text).expect("the cluster holds valid YAML"))
    }

    /// The cluster-scoped Namespace object `name`, if any.
    pub fn namespace(&self, name: &str) -> Option<Value> {
        self.object("_cluster", "namespace", name)
    }

    /// Paths (relative to the folder, sorted) of every object in namespace `namespace`.
    pub fn files_in(&self, namespace: &str) -> Vec<String> {
        let mut files: Vec<String> = controller::yaml_files(&self.root.join(namespace))
            .iter()
            .filter_map(|path| path.strip_prefix(&self.root).ok())
            .map(|path| path.display().to_string())
            .collect();
        files.sort();
        files
    }
}
