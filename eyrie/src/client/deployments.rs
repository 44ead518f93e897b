//! `eyrie deployment`: deployments, their fields, lifecycle actions and versions.

use std::collections::HashMap;

use clap::{Args, Subcommand};
use eyrie_proto::v1::{
    CreateDeploymentRequest, Deployment, GetDeploymentRequest, ListDeploymentsRequest, Operation,
    OperationAction, UpdateDeploymentRequest,
};
use prost_types::FieldMask;

use super::{
    Context, all_pages, choices,
    error::CliError,
    lifecycle::{self, ActionArgs},
    names,
    output::{Details, Label as _, time},
    versions,
};

/// Deployments: running instances, and the Deploy, Pause and Drop actions.
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Creates a deployment, in state draft.
    Create {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Lists the deployments of a group.
    List {
        /// `projects/{project}/groups/{group}`.
        #[arg(value_parser = names::group)]
        group: String,
        /// Only deployments in this state.
        #[arg(long, value_enum)]
        state: Option<choices::DeploymentState>,
        /// Only deployments in this scope, `projects/{project}/scopes/{scope}`.
        #[arg(long, value_parser = names::scope)]
        scope: Option<String>,
        /// Include dropped deployments.
        #[arg(long)]
        show_dropped: bool,
    },
    /// Shows a deployment with its last operation.
    Get {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Changes a deployment's fields (only the options given); a key field change records a new
    /// version.
    Update {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
        #[command(flatten)]
        fields: Fields,
        /// Refuse the change unless the deployment still has this etag.
        #[arg(long)]
        etag: Option<String>,
    },
    /// Deploys: initialize then deploy from draft, deploy again from deploy or pause.
    Deploy {
        #[command(flatten)]
        action: ActionArgs,
        /// Restore the key fields of this earlier version first.
        #[arg(long, value_name = "VERSION")]
        rollback_to: Option<i64>,
    },
    /// Pauses a deployed deployment (scale to zero, PGO shutdown, PXC pause).
    Pause {
        #[command(flatten)]
        action: ActionArgs,
    },
    /// Drops a deployment (only in a scope that allows it).
    Drop {
        #[command(flatten)]
        action: ActionArgs,
    },
    /// Lists the operations (actions) of a deployment, newest first.
    Operations {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Lists the versions of a deployment, newest first.
    Versions {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Shows the key fields that differ between two versions of a deployment.
    Diff {
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
        /// The old version's number.
        from: i64,
        /// The new version's number.
        to: i64,
    },
}

/// A deployment's fields, as options.
#[derive(Debug, Args)]
pub struct Fields {
    /// Human-readable name (the id when creating without one).
    #[arg(long)]
    display_name: Option<String>,
    /// Scope, `projects/{project}/scopes/{scope}`.
    #[arg(long, value_parser = names::scope)]
    scope: Option<String>,
    /// A cluster to run on, `projects/{project}/clusters/{cluster}`; repeat for several.
    #[arg(long = "cluster", value_parser = names::cluster)]
    clusters: Vec<String>,
    /// Source repository URL.
    #[arg(long)]
    repository: Option<String>,
    /// Git branch.
    #[arg(long)]
    branch: Option<String>,
    /// Container image, e.g. `odoo:18.0`.
    #[arg(long)]
    image: Option<String>,
    /// Commit (or any ref) the image was built from.
    #[arg(long)]
    commit_ref: Option<String>,
    /// A parameter the books read, `KEY=VALUE`; repeat for several. In an update, the given
    /// parameters replace all of them.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parameter)]
    parameters: Vec<(String, String)>,
}

impl Fields {
    /// Sets the given fields on `deployment`, returning the field names set.
    fn apply(self, deployment: &mut Deployment) -> Vec<String> {
        let mut paths = Vec::new();
        let strings = [
            (
                self.display_name,
                &mut deployment.display_name,
                "display_name",
            ),
            (self.scope, &mut deployment.scope, "scope"),
            (self.repository, &mut deployment.repository, "repository"),
            (self.branch, &mut deployment.branch, "branch"),
            (self.image, &mut deployment.image, "image"),
            (self.commit_ref, &mut deployment.commit_ref, "commit_ref"),
        ];
        for (value, field, path) in strings {
            if let Some(value) = value {
                *field = value;
                paths.push(path.to_owned());
            }
        }
        if !self.clusters.is_empty() {
            deployment.clusters = self.clusters;
            paths.push("clusters".to_owned());
        }
        if !self.parameters.is_empty() {
            deployment.parameters = self.parameters.into_iter().collect::<HashMap<_, _>>();
            paths.push("parameters".to_owned());
        }
        paths
    }
}

fn parameter(input: &str) -> Result<(String, String), String> {
    input
        .split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| "expected KEY=VALUE".to_owned())
}

pub async fn run(command: DeploymentCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        DeploymentCommand::Create { name, fields } => {
            let (parent, id) = names::split_parent(&name);
            let mut deployment = Deployment::default();
            fields.apply(&mut deployment);
            if deployment.display_name.is_empty() {
                id.clone_into(&mut deployment.display_name);
            }
            let deployment = client
                .create_deployment(CreateDeploymentRequest {
                    parent: parent.to_owned(),
                    deployment_id: id.to_owned(),
                    deployment: Some(deployment),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&deployment, details);
        }
        DeploymentCommand::List {
            group,
            state,
            scope,
            show_dropped,
        } => {
            let state = state.map_or(0, |state| {
                eyrie_proto::v1::DeploymentState::from(state).into()
            });
            let deployments = all_pages(|page_token| {
                let mut client = client.clone();
                let request = ListDeploymentsRequest {
                    parent: group.clone(),
                    page_size: 0,
                    page_token,
                    state,
                    scope: scope.clone().unwrap_or_default(),
                    show_dropped,
                };
                async move {
                    let page = client.list_deployments(request).await?.into_inner();
                    Ok((page.deployments, page.next_page_token))
                }
            })
            .await?;
            context.output.list(
                &deployments,
                &["NAME", "STATE", "IMAGE", "RUNNING JOBS", "LAST OPERATION"],
                |d| {
                    vec![
                        d.name.clone(),
                        d.state().label(),
                        d.image.clone(),
                        d.running_job_count.to_string(),
                        d.last_operation
                            .as_ref()
                            .map(operation_summary)
                            .unwrap_or_default(),
                    ]
                },
            );
        }
        DeploymentCommand::Get { name } => {
            let deployment = client
                .get_deployment(GetDeploymentRequest { name })
                .await?
                .into_inner();
            context.output.one(&deployment, details);
        }
        DeploymentCommand::Update { name, fields, etag } => {
            let mut deployment = Deployment {
                name,
                etag: etag.unwrap_or_default(),
                ..Default::default()
            };
            let paths = fields.apply(&mut deployment);
            if paths.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give a field option".into(),
                ));
            }
            let deployment = client
                .update_deployment(UpdateDeploymentRequest {
                    deployment: Some(deployment),
                    update_mask: Some(FieldMask { paths }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&deployment, details);
        }
        DeploymentCommand::Deploy {
            action,
            rollback_to,
        } => lifecycle::deploy(action, rollback_to, context).await?,
        DeploymentCommand::Pause { action } => lifecycle::pause(action, context).await?,
        DeploymentCommand::Drop { action } => lifecycle::drop(action, context).await?,
        DeploymentCommand::Operations { name } => lifecycle::operations(name, context).await?,
        DeploymentCommand::Versions { name } => versions::list(name, context).await?,
        DeploymentCommand::Diff { name, from, to } => {
            versions::diff(&name, from, to, context).await?;
        }
    }
    Ok(())
}

/// `deploy succeeded`, `pause running`, `drop failed`; empty when only the name is known.
pub fn operation_summary(operation: &Operation) -> String {
    if operation.action() == OperationAction::Unspecified {
        return String::new();
    }
    format!(
        "{} {}",
        operation.action().label(),
        operation.status().label()
    )
}

fn details(deployment: &Deployment) -> Details {
    let mut parameters: Vec<_> = deployment
        .parameters
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    parameters.sort();
    let last_operation = deployment.last_operation.as_ref().map(|operation| {
        let summary = operation_summary(operation);
        let mut text = operation.name.clone();
        if !summary.is_empty() {
            text.push_str(&format!(" ({summary})"));
        }
        if !operation.message.is_empty() {
            text.push_str(": ");
            text.push_str(&operation.message);
        }
        text
    });
    vec![
        ("name", deployment.name.clone()),
        ("display name", deployment.display_name.clone()),
        ("type", deployment.r#type().label()),
        ("state", deployment.state().label()),
        ("scope", deployment.scope.clone()),
        ("clusters", deployment.clusters.join("\n")),
        ("repository", deployment.repository.clone()),
        ("branch", deployment.branch.clone()),
        ("image", deployment.image.clone()),
        ("commit ref", deployment.commit_ref.clone()),
        ("parameters", parameters.join("\n")),
        ("namespace", deployment.namespace.clone()),
        ("running jobs", deployment.running_job_count.to_string()),
        ("last operation", last_operation.unwrap_or_default()),
        ("version", deployment.current_version.to_string()),
        ("etag", deployment.etag.clone()),
        ("created", time(deployment.create_time.as_ref())),
        ("updated", time(deployment.update_time.as_ref())),
    ]
}
