//! WatchOperation: an operation as it is, then again each time it moves, until it ended.
//!
//! Driven by the deployment change signals (every write of an operation is one of its
//! deployment): the stream reads its operation again only when its deployment changed, when a
//! signal may have been missed, or on a slow timer, [`RESYNC`].

use std::{sync::Arc, time::Duration};

use eyrie_platform::changes::Signal;
use eyrie_proto::v1::{self as pb, watch_operation_response::Kind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, codegen::BoxStream};

use super::{convert::timestamp, lifecycle::operation_name};
use crate::{
    domain::operation::{Operation, OperationStatus},
    grpc::convert::operation_to_proto,
    service::lifecycle::Lifecycle,
};

/// Heartbeat period of an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often the operation is read again regardless of signals (see the watch of groups).
const RESYNC: Duration = Duration::from_secs(30);

type Sender = mpsc::Sender<Result<pb::WatchOperationResponse, Status>>;

/// Opens the stream of the operation the request names.
pub async fn watch(
    lifecycle: Arc<Lifecycle>,
    request: Request<pb::WatchOperationRequest>,
) -> Result<Response<BoxStream<pb::WatchOperationResponse>>, Status> {
    let name = operation_name(request.into_inner().name)?;
    // Subscribed before the first read, so that no change after it is missed.
    let signals = lifecycle.changes().subscribe();
    let operation = lifecycle.operation(&name).await?;
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(follow(lifecycle, operation, signals, sender));
    Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
}

/// Sends `operation`, then each new form of it, until it ended or the client left.
async fn follow(
    lifecycle: Arc<Lifecycle>,
    mut operation: Operation,
    mut signals: eyrie_platform::changes::Subscription,
    sender: Sender,
) {
    if send(&sender, Kind::Operation(operation_to_proto(&operation)))
        .await
        .is_err()
    {
        return;
    }
    let start = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval_at(start + HEARTBEAT, HEARTBEAT);
    let mut resync = tokio::time::interval_at(start + RESYNC, RESYNC);
    while operation.status == OperationStatus::Running {
        let read_again = tokio::select! {
            signal = signals.next() => match signal {
                Some(Signal::Changed(deployment)) => *deployment == *operation.deployment,
                Some(Signal::Resync) => true,
                None => return,
            },
            _ = resync.tick() => true,
            _ = heartbeat.tick() => {
                let time = Some(timestamp(chrono::Utc::now()));
                if send(&sender, Kind::Heartbeat(pb::Heartbeat { time })).await.is_err() {
                    return;
                }
                false
            }
            () = sender.closed() => return,
        };
        if !read_again {
            continue;
        }
        let now = match lifecycle.operation(&operation.name).await {
            Ok(now) => now,
            Err(err) => {
                let _ = sender.send(Err(err.into())).await;
                return;
            }
        };
        if now == operation {
            continue;
        }
        operation = now;
        if send(&sender, Kind::Operation(operation_to_proto(&operation)))
            .await
            .is_err()
        {
            return;
        }
        heartbeat.reset();
    }
}

async fn send(sender: &Sender, kind: Kind) -> Result<(), ()> {
    let message = pb::WatchOperationResponse { kind: Some(kind) };
    sender.send(Ok(message)).await.map_err(|_| ())
}
