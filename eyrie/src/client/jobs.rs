//! `eyrie job`: the runs of books, their steps and logs; cancel, retry, watch.

use clap::Subcommand;
use eyrie_proto::v1::{
    self, CancelJobRequest, GetJobRequest, GetJobStepLogRequest, GetOperationRequest, Job,
    JobStatus, ListJobsRequest, RetryJobRequest,
};

use super::{
    Context, all_pages, choices,
    error::CliError,
    names,
    output::{
        Details, Format, Label as _, between, human, outln, print_details, print_table, time,
    },
    progress, watch,
};

/// Jobs: one run of one book for one deployment.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Lists jobs, newest first: of a deployment, or of every deployment of a group or project.
    List {
        /// A deployment, group or project: `shop/erp/main`, `shop/erp`, `shop`, or the full name.
        #[arg(value_parser = names::job_parent)]
        parent: String,
        /// Only jobs in this status.
        #[arg(long, value_enum)]
        status: Option<choices::JobStatus>,
    },
    /// Shows a job and its steps.
    Show {
        /// `{project}/{group}/{deployment}/{job}`, or
        /// `.../deployments/{deployment}/jobs/{job}`.
        #[arg(value_parser = names::job)]
        name: String,
    },
    /// Prints the log of one step of a job.
    Log {
        /// `{project}/{group}/{deployment}/{job}`, or
        /// `.../deployments/{deployment}/jobs/{job}`.
        #[arg(value_parser = names::job)]
        name: String,
        /// Step number, from 1, as `job show` lists them.
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        step: u32,
    },
    /// Cancels a queued or running job.
    Cancel {
        /// `{project}/{group}/{deployment}/{job}`, or
        /// `.../deployments/{deployment}/jobs/{job}`.
        #[arg(value_parser = names::job)]
        name: String,
    },
    /// Runs a failed or cancelled job's book again, as a new operation.
    Retry {
        /// `{project}/{group}/{deployment}/{job}`, or
        /// `.../deployments/{deployment}/jobs/{job}`.
        #[arg(value_parser = names::job)]
        name: String,
        /// Start at the step that failed, skipping the ones before it.
        #[arg(long)]
        resume_from_failed_step: bool,
        /// Follow the new operation until it ends; exit with 1 when it fails.
        #[arg(long, short)]
        watch: bool,
        /// Idempotency key: a retry with the same id returns the first new job.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Follows a job step by step until it ends; exits with 1 when it fails or is cancelled.
    Watch {
        /// `{project}/{group}/{deployment}/{job}`, or
        /// `.../deployments/{deployment}/jobs/{job}`.
        #[arg(value_parser = names::job)]
        name: String,
    },
}

pub async fn run(command: JobCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.jobs();
    match command {
        JobCommand::List { parent, status } => {
            let status = status.map_or(0, |s| JobStatus::from(s).into());
            let jobs = all_pages(|page_token| {
                let mut client = client.clone();
                let request = ListJobsRequest {
                    parent: parent.clone(),
                    page_size: 0,
                    page_token,
                    status,
                };
                async move {
                    let page = client.list_jobs(request).await?.into_inner();
                    Ok((page.jobs, page.next_page_token))
                }
            })
            .await?;
            context.output.list(
                &jobs,
                &["NAME", "ACTION", "PHASE", "STATUS", "CREATED", "MESSAGE"],
                |j| {
                    vec![
                        j.name.clone(),
                        j.action().label(),
                        j.phase().label(),
                        j.status().label(),
                        time(j.create_time.as_ref()),
                        j.message.clone(),
                    ]
                },
            );
        }
        JobCommand::Show { name } => {
            let job = client.get_job(GetJobRequest { name }).await?.into_inner();
            show(&job, context);
        }
        JobCommand::Log { name, step } => {
            let lines = all_pages(|page_token| {
                let mut client = client.clone();
                let request = GetJobStepLogRequest {
                    job: name.clone(),
                    step_index: step - 1,
                    page_size: 0,
                    page_token,
                };
                async move {
                    let page = client.get_job_step_log(request).await?.into_inner();
                    if page.truncated && page.next_page_token.is_empty() {
                        eprintln!("(the step wrote more lines than are kept)");
                    }
                    Ok((page.lines, page.next_page_token))
                }
            })
            .await?;
            for line in lines {
                match context.output.format {
                    Format::Json => outln!(
                        "{}",
                        serde_json::json!({
                            "number": line.number, "attempt": line.attempt,
                            "time": time(line.time.as_ref()), "text": line.text,
                        })
                    ),
                    Format::Text => outln!("{}", line.text),
                }
            }
        }
        JobCommand::Cancel { name } => {
            let job = client
                .cancel_job(CancelJobRequest {
                    name,
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            show(&job, context);
        }
        JobCommand::Retry {
            name,
            resume_from_failed_step,
            watch,
            request_id,
        } => {
            let job = client
                .retry_job(RetryJobRequest {
                    name,
                    resume_from_failed_step,
                    request_id: request_id.unwrap_or_default(),
                })
                .await?
                .into_inner();
            if !watch {
                show(&job, context);
                return Ok(());
            }
            // A retried initialize job goes on with the deploy book: follow the whole operation.
            let operation = context
                .connection
                .deployments()
                .get_operation(GetOperationRequest {
                    name: job.operation.clone(),
                })
                .await?
                .into_inner();
            let mut progress = progress::for_output(context.output);
            let operation =
                watch::follow_operation(&context.connection, operation, progress.as_mut()).await?;
            if operation.status() != v1::OperationStatus::Succeeded {
                return Err(CliError::Failed(format!(
                    "retry of {} failed: {}",
                    job.retry_of, operation.message
                )));
            }
        }
        JobCommand::Watch { name } => {
            let mut progress = progress::for_output(context.output);
            let job = watch::follow_job(&context.connection, &name, progress.as_mut()).await?;
            progress.finished(&job);
            if job.status() != JobStatus::Succeeded {
                return Err(CliError::Failed(format!(
                    "job {} {}: {}",
                    job.name,
                    job.status().label(),
                    job.message
                )));
            }
        }
    }
    Ok(())
}

/// The job's fields, then a table of its steps.
fn show(job: &Job, context: &Context) {
    if context.output.format == Format::Json {
        context.output.one(job, details);
        return;
    }
    print_details(&details(job));
    outln!();
    let rows: Vec<_> = job
        .steps
        .iter()
        .map(|step| {
            vec![
                (step.index + 1).to_string(),
                step.name.clone(),
                step.uses.clone(),
                step.status().label(),
                step.attempts.to_string(),
                between(step.start_time.as_ref(), step.end_time.as_ref())
                    .map(human)
                    .unwrap_or_default(),
                step.message.clone(),
            ]
        })
        .collect();
    print_table(
        &["#", "STEP", "KIND", "STATUS", "ATTEMPTS", "TOOK", "MESSAGE"],
        &rows,
    );
}

fn details(job: &Job) -> Details {
    vec![
        ("name", job.name.clone()),
        ("deployment", job.deployment.clone()),
        ("operation", job.operation.clone()),
        ("action", job.action().label()),
        ("phase", job.phase().label()),
        ("book", job.book.clone()),
        ("status", job.status().label()),
        ("message", job.message.clone()),
        ("actor", job.actor.clone()),
        ("retry of", job.retry_of.clone()),
        ("created", time(job.create_time.as_ref())),
        ("started", time(job.start_time.as_ref())),
        ("ended", time(job.end_time.as_ref())),
    ]
}
