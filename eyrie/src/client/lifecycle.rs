//! `eyrie deployment deploy|pause|drop|operations`: lifecycle actions and their audit log.

use clap::Args;
use eyrie_proto::v1::{
    DeployDeploymentRequest, DropDeploymentRequest, ListOperationsRequest, Operation,
    OperationStatus, PauseDeploymentRequest,
};

use super::{
    Context, all_pages,
    deployments::operation_summary,
    error::CliError,
    names,
    output::{Details, Label as _, time},
    progress, watch,
};

/// What every lifecycle action takes.
#[derive(Debug, Args)]
pub struct ActionArgs {
    /// `{project}/{group}/{deployment}`, or
    /// `projects/{project}/groups/{group}/deployments/{deployment}`.
    #[arg(value_parser = names::deployment)]
    name: String,
    /// Follow the operation's jobs step by step until it ends; exit with 1 when it fails.
    #[arg(long, short)]
    watch: bool,
    /// Idempotency key: a retry with the same id returns the first operation and starts nothing.
    #[arg(long)]
    request_id: Option<String>,
}

pub async fn deploy(
    args: ActionArgs,
    rollback_to_version: Option<i64>,
    context: &Context,
) -> Result<(), CliError> {
    let operation = context
        .connection
        .deployments()
        .deploy_deployment(DeployDeploymentRequest {
            name: args.name.clone(),
            rollback_to_version,
            request_id: args.request_id.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    finish(&args, operation, context).await
}

pub async fn pause(args: ActionArgs, context: &Context) -> Result<(), CliError> {
    let operation = context
        .connection
        .deployments()
        .pause_deployment(PauseDeploymentRequest {
            name: args.name.clone(),
            request_id: args.request_id.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    finish(&args, operation, context).await
}

pub async fn drop(args: ActionArgs, context: &Context) -> Result<(), CliError> {
    let operation = context
        .connection
        .deployments()
        .drop_deployment(DropDeploymentRequest {
            name: args.name.clone(),
            request_id: args.request_id.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    finish(&args, operation, context).await
}

/// Prints the accepted operation, or follows it to its end with `--watch`.
async fn finish(
    args: &ActionArgs,
    operation: Operation,
    context: &Context,
) -> Result<(), CliError> {
    if !args.watch {
        context.output.one(&operation, details);
        return Ok(());
    }
    let mut progress = progress::for_output(context.output);
    let operation =
        watch::follow_operation(&context.connection, operation, progress.as_mut()).await?;
    if operation.status() == OperationStatus::Succeeded {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "{} of {} failed: {}",
        operation.action().label(),
        args.name,
        operation.message
    )))
}

pub async fn operations(deployment: String, context: &Context) -> Result<(), CliError> {
    let client = context.connection.deployments();
    let operations = all_pages(|page_token| {
        let mut client = client.clone();
        let parent = deployment.clone();
        async move {
            let page = client
                .list_operations(ListOperationsRequest {
                    parent,
                    page_size: 0,
                    page_token,
                })
                .await?
                .into_inner();
            Ok((page.operations, page.next_page_token))
        }
    })
    .await?;
    context.output.list(
        &operations,
        &["NAME", "OPERATION", "ACTOR", "CREATED", "MESSAGE"],
        |o| {
            vec![
                o.name.clone(),
                operation_summary(o),
                o.actor.clone(),
                time(o.create_time.as_ref()),
                o.message.clone(),
            ]
        },
    );
    Ok(())
}

fn details(operation: &Operation) -> Details {
    let rollback = match operation.rollback_to_version {
        0 => String::new(),
        version => version.to_string(),
    };
    vec![
        ("name", operation.name.clone()),
        ("action", operation.action().label()),
        ("status", operation.status().label()),
        ("actor", operation.actor.clone()),
        ("jobs", operation.jobs.join("\n")),
        ("message", operation.message.clone()),
        ("rollback to", rollback),
        ("retry of", operation.retry_of.clone()),
        ("created", time(operation.create_time.as_ref())),
        ("ended", time(operation.end_time.as_ref())),
    ]
}
