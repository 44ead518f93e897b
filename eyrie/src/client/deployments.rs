//! `eyrie deployment`: deployments, their fields, lifecycle actions and versions.

use std::{collections::HashMap, path::PathBuf};

use clap::{Args, Subcommand};
use eyrie_proto::v1::{
    CreateDeploymentRequest, Deployment, GetDeploymentRequest, ListDeploymentsRequest, Operation,
    OperationAction, UpdateDeploymentRequest, deployment_service_client::DeploymentServiceClient,
};
use prost_types::FieldMask;
use tonic::Code;

use super::{
    Context, all_pages, choices,
    connection::Authorized,
    error::CliError,
    lifecycle::{self, ActionArgs},
    names,
    output::{Details, Label as _, time},
    parameters::{self, Edit},
    versions,
};

/// How many times an update of the parameters is tried when a concurrent change wins the race.
const PARAMETER_ATTEMPTS: u32 = 3;

/// Deployments: running instances, and the Deploy, Pause and Drop actions.
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Creates a deployment, in state draft.
    Create {
        /// `{project}/{group}/{deployment}`, or
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Lists the deployments of a group.
    List {
        /// `{project}/{group}`, or `projects/{project}/groups/{group}`.
        #[arg(value_parser = names::group)]
        group: String,
        /// Only deployments in this state.
        #[arg(long, value_enum)]
        state: Option<choices::DeploymentState>,
        /// Only deployments in this scope, `{project}/{scope}` or
        /// `projects/{project}/scopes/{scope}`.
        #[arg(long, value_parser = names::scope)]
        scope: Option<String>,
        /// Include dropped deployments.
        #[arg(long)]
        show_dropped: bool,
    },
    /// Shows a deployment with its last operation.
    Get {
        /// `{project}/{group}/{deployment}`, or
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Changes a deployment's fields (only the options given); a key field change records a new
    /// version.
    Update {
        /// `{project}/{group}/{deployment}`, or
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
        /// `{project}/{group}/{deployment}`, or
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Lists the versions of a deployment, newest first.
    Versions {
        /// `{project}/{group}/{deployment}`, or
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(value_parser = names::deployment)]
        name: String,
    },
    /// Shows the key fields that differ between two versions of a deployment.
    Diff {
        /// `{project}/{group}/{deployment}`, or
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
    /// Scope, `{scope}` in the deployment's project, `{project}/{scope}`, or
    /// `projects/{project}/scopes/{scope}`.
    #[arg(long, value_parser = names::scope_or_id)]
    scope: Option<String>,
    /// A cluster to run on, `{cluster}` in the deployment's project, `{project}/{cluster}`, or
    /// `projects/{project}/clusters/{cluster}`; repeat for several.
    #[arg(long = "cluster", value_parser = names::cluster_or_id)]
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
    /// Sets a parameter the books read, `KEY=VALUE`, or removes one, `KEY-`; repeat for several.
    /// In an update, the parameters not named are kept.
    #[arg(
        long = "param",
        value_name = "KEY=VALUE|KEY-",
        value_parser = parameters::edit,
        allow_hyphen_values = true
    )]
    parameters: Vec<Edit>,
    /// A YAML or JSON map of parameters, merged in the same way (`--param` wins over it).
    #[arg(long, value_name = "FILE")]
    params_file: Option<PathBuf>,
}

impl Fields {
    /// Sets the given fields, parameters aside, on deployment `name`; returns the field names
    /// set. A bare scope or cluster id is taken in the deployment's project.
    fn apply(&self, name: &str, deployment: &mut Deployment) -> Vec<String> {
        let mut paths = Vec::new();
        let scope = self
            .scope
            .clone()
            .map(|scope| names::in_project(name, "scopes", scope));
        let strings = [
            (
                self.display_name.clone(),
                &mut deployment.display_name,
                "display_name",
            ),
            (scope, &mut deployment.scope, "scope"),
            (
                self.repository.clone(),
                &mut deployment.repository,
                "repository",
            ),
            (self.branch.clone(), &mut deployment.branch, "branch"),
            (self.image.clone(), &mut deployment.image, "image"),
            (
                self.commit_ref.clone(),
                &mut deployment.commit_ref,
                "commit_ref",
            ),
        ];
        for (value, field, path) in strings {
            if let Some(value) = value {
                *field = value;
                paths.push(path.to_owned());
            }
        }
        if !self.clusters.is_empty() {
            deployment.clusters = self
                .clusters
                .iter()
                .map(|cluster| names::in_project(name, "clusters", cluster.clone()))
                .collect();
            paths.push("clusters".to_owned());
        }
        paths
    }

    fn changes_parameters(&self) -> bool {
        !self.parameters.is_empty() || self.params_file.is_some()
    }

    fn read_params_file(&self) -> Result<Option<HashMap<String, String>>, CliError> {
        self.params_file
            .as_deref()
            .map(parameters::read_file)
            .transpose()
    }
}

/// Updates deployment `name` with `fields`. Parameters are read, changed and written back with
/// the etag read (or the one given), so a concurrent change is ABORTED rather than lost; without
/// an etag of the user's own, the update is then tried again on a fresh read.
async fn update(
    client: &mut DeploymentServiceClient<Authorized>,
    name: String,
    fields: &Fields,
    etag: Option<String>,
) -> Result<Deployment, CliError> {
    let mut deployment = Deployment {
        name: name.clone(),
        etag: etag.clone().unwrap_or_default(),
        ..Default::default()
    };
    let mut paths = fields.apply(&name, &mut deployment);
    let request = |deployment: Deployment, paths: Vec<String>| UpdateDeploymentRequest {
        deployment: Some(deployment),
        update_mask: Some(FieldMask { paths }),
        request_id: String::new(),
    };
    if !fields.changes_parameters() {
        if paths.is_empty() {
            return Err(CliError::Usage(
                "nothing to update: give a field option".into(),
            ));
        }
        let response = client.update_deployment(request(deployment, paths)).await?;
        return Ok(response.into_inner());
    }
    let file = fields.read_params_file()?;
    paths.push("parameters".to_owned());
    let mut attempt = 1;
    loop {
        let current = client
            .get_deployment(GetDeploymentRequest { name: name.clone() })
            .await?
            .into_inner();
        deployment.etag = etag.clone().unwrap_or(current.etag);
        deployment.parameters =
            parameters::merge(current.parameters, file.clone(), &fields.parameters);
        match client
            .update_deployment(request(deployment.clone(), paths.clone()))
            .await
        {
            Ok(response) => return Ok(response.into_inner()),
            // With the user's own etag, a lost race is theirs to see.
            Err(status)
                if status.code() == Code::Aborted
                    && etag.is_none()
                    && attempt < PARAMETER_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(status) => return Err(status.into()),
        }
    }
}

pub async fn run(command: DeploymentCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        DeploymentCommand::Create { name, fields } => {
            let (parent, id) = names::split_parent(&name);
            let mut deployment = Deployment::default();
            fields.apply(&name, &mut deployment);
            deployment.parameters = parameters::merge(
                HashMap::new(),
                fields.read_params_file()?,
                &fields.parameters,
            );
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
            let deployment = update(&mut client, name, &fields, etag).await?;
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

#[cfg(test)]
mod tests;
