//! Following jobs and operations to their end.
//!
//! A job is followed through `WatchJob`, which sends the stored history first and then live
//! events; a dropped stream is resumed from the last sequence seen, so nothing is shown twice or
//! missed. An operation is followed job after job: a Deploy from draft adds its deploy job only once
//! the initialize job succeeded, so the operation is read again after each job.

use std::time::Duration;

use eyrie_proto::v1::{
    GetJobRequest, GetOperationRequest, Job, Operation, OperationStatus, WatchJobRequest,
    job_event, watch_job_response,
};
use tonic::{Code, Status};

use super::{connection::Connection, error::CliError, progress::Progress};

/// Streams that break this many times in a row without delivering an event end the watch.
const MAX_RESUMES: u32 = 5;
/// First wait before resuming a broken stream; doubled on each further failure.
const RESUME_BACKOFF: Duration = Duration::from_millis(200);
/// How often the operation is read while waiting for its next job.
const OPERATION_POLL: Duration = Duration::from_millis(250);

/// Follows `job` from its first event to its last; returns the job as it ended.
pub async fn follow_job(
    connection: &Connection,
    job: &str,
    progress: &mut dyn Progress,
) -> Result<Job, CliError> {
    let mut jobs = connection.jobs();
    let get = GetJobRequest {
        name: job.to_owned(),
    };
    let started = jobs.get_job(get.clone()).await?.into_inner();
    progress.job(&started);

    let mut last_sequence = 0;
    let mut failures = 0;
    loop {
        let before = last_sequence;
        let outcome = stream_events(connection, job, &mut last_sequence, progress).await;
        if last_sequence > before {
            failures = 0;
        }
        let broken = match outcome {
            Ok(StreamEnd::JobEnded) => break,
            // A stream that ends without the job's last event: the job may have ended before we
            // asked (nothing left to send); otherwise resume.
            Ok(StreamEnd::Closed) => {
                let current = jobs.get_job(get.clone()).await?.into_inner();
                if current.end_time.is_some() && current.last_sequence <= last_sequence {
                    return Ok(current);
                }
                Status::unavailable(format!("the event stream of {job} ended early"))
            }
            Err(status) if resumable(&status) => status,
            Err(status) => return Err(status.into()),
        };
        failures += 1;
        if failures > MAX_RESUMES {
            return Err(broken.into());
        }
        tokio::time::sleep(RESUME_BACKOFF * 2u32.pow(failures - 1)).await;
    }
    Ok(jobs.get_job(get).await?.into_inner())
}

enum StreamEnd {
    JobEnded,
    Closed,
}

/// Reads one WatchJob stream after `last_sequence`, passing each new event to `progress`.
async fn stream_events(
    connection: &Connection,
    job: &str,
    last_sequence: &mut u64,
    progress: &mut dyn Progress,
) -> Result<StreamEnd, Status> {
    let mut stream = connection
        .jobs()
        .watch_job(WatchJobRequest {
            name: job.to_owned(),
            after_sequence: *last_sequence,
        })
        .await?
        .into_inner();
    while let Some(message) = stream.message().await? {
        let Some(watch_job_response::Kind::Event(event)) = message.kind else {
            continue; // heartbeats only say the stream is alive
        };
        if event.sequence <= *last_sequence {
            continue;
        }
        *last_sequence = event.sequence;
        progress.event(&event);
        if matches!(event.kind, Some(job_event::Kind::JobEnded(_))) {
            return Ok(StreamEnd::JobEnded);
        }
    }
    Ok(StreamEnd::Closed)
}

/// Errors after which the stream is worth opening again: the connection broke, or the gateway
/// dropped a watcher that fell behind (ABORTED, resume from the last sequence).
fn resumable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Aborted | Code::Unknown | Code::Cancelled
    )
}

/// Follows every job of `operation` until the operation ends; returns it as it ended.
pub async fn follow_operation(
    connection: &Connection,
    mut operation: Operation,
    progress: &mut dyn Progress,
) -> Result<Operation, CliError> {
    let mut deployments = connection.deployments();
    let get = GetOperationRequest {
        name: operation.name.clone(),
    };
    progress.operation(&operation);
    let mut followed = 0;
    let mut waiting = false;
    loop {
        if let Some(job) = operation.jobs.get(followed) {
            follow_job(connection, &job.clone(), progress).await?;
            followed += 1;
            waiting = false;
        } else if operation.status() != OperationStatus::Running {
            progress.operation(&operation);
            return Ok(operation);
        } else {
            if !waiting {
                progress.waiting("waiting for the operation's next job");
                waiting = true;
            }
            tokio::time::sleep(OPERATION_POLL).await;
        }
        operation = deployments.get_operation(get.clone()).await?.into_inner();
    }
}
