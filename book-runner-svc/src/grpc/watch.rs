//! WatchJob over gRPC: the items of `service::job_watch`, each as a `WatchJobResponse`.

use std::sync::Arc;

use eyrie_platform::names::JobName;
use eyrie_proto::v1::{Heartbeat, WatchJobResponse, watch_job_response::Kind};
use tokio_stream::{StreamExt as _, wrappers::ReceiverStream};
use tonic::{Status, codegen::BoxStream};

use super::convert::job::{event_to_proto, timestamp};
use crate::service::{
    job_watch::{self, WatchItem},
    jobs::Jobs,
};

/// Opens the stream for `name` after `after_sequence`; errors (unknown job, sequence out of
/// range) are returned before the stream starts.
pub async fn watch(
    jobs: Arc<Jobs>,
    name: JobName,
    after_sequence: u64,
) -> Result<BoxStream<WatchJobResponse>, Status> {
    let watch = job_watch::watch(jobs, name, after_sequence).await?;
    let job_name = watch.job_name;
    let messages = ReceiverStream::new(watch.items).map(move |item| {
        let kind = match item? {
            WatchItem::Event(event) => Kind::Event(event_to_proto(&job_name, &event)),
            WatchItem::Heartbeat(time) => Kind::Heartbeat(Heartbeat {
                time: Some(timestamp(time)),
            }),
        };
        Ok(WatchJobResponse { kind: Some(kind) })
    });
    Ok(Box::pin(messages))
}
