//! Forwarding the calls of one public service to its backend, message by message.
//!
//! The gateway does not decode what it forwards: messages pass as opaque bytes, so every RPC
//! of a service (unary or streaming) goes through one code path and a new RPC in the contract
//! needs only an access rule (declared in its proto, see `access::rules`). Only services
//! registered here are reachable; the internal package never is.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Buf as _, BufMut as _, Bytes};
use eyrie_platform::grpc::TracedChannel;
use futures::{StreamExt as _, future::BoxFuture, stream::BoxStream};
use http::uri::PathAndQuery;
use tonic::{
    Request, Response, Status, Streaming,
    body::Body,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    server::{NamedService, StreamingService},
};

use crate::{
    access::{AccessRules, Grants, Rule, policy},
    auth::Caller,
};

/// A stream of encoded response messages.
pub type MessageStream = BoxStream<'static, Result<Bytes, Status>>;

/// The answer to a call: response metadata and messages, or the status refusing it.
pub type Answer = BoxFuture<'static, Result<Response<MessageStream>, Status>>;

/// A call that passed authorization, about to be forwarded.
pub struct Call {
    /// `/package.Service/Method`.
    pub path: PathAndQuery,
    /// The access rule the call passed.
    pub rule: Arc<Rule>,
    /// What the caller may do.
    pub grants: Grants,
    /// The request's first (for every public RPC: only) message, still encoded.
    pub message: Bytes,
    /// The request as received, its message stream already read.
    pub metadata: tonic::metadata::MetadataMap,
    /// The request's extensions.
    pub extensions: tonic::Extensions,
    /// The backend.
    pub channel: TracedChannel,
    /// Largest message passed either way, in bytes.
    pub max_message_size: usize,
}

/// What a service does with a call.
pub enum Handling {
    /// Replay it on the backend.
    Forward(Box<Call>),
    /// The gateway answers it itself.
    Answered(Answer),
}

/// A public service the gateway serves (tonic routes by `NamedService::NAME`).
pub trait PublicService: Send + Sync + 'static {
    /// Fully qualified service name, e.g. `eyrie.v1.JobService`.
    const NAME: &'static str;

    /// Decides how an authorized call is served; by default it is forwarded.
    fn handle(&self, call: Call) -> Handling {
        Handling::Forward(Box::new(call))
    }
}

/// Serves every call of `S` by replaying it on `upstream`.
pub struct Forward<S> {
    upstream: TracedChannel,
    service: Arc<S>,
    rules: Arc<AccessRules>,
    max_message_size: usize,
}

impl<S> Forward<S> {
    /// Forwards to `upstream`, a channel balanced over the backend's replicas, the calls that
    /// pass their rule in `rules`; messages above `max_message_size` bytes are refused either way.
    pub fn new(
        service: S,
        upstream: TracedChannel,
        rules: Arc<AccessRules>,
        max_message_size: usize,
    ) -> Self {
        Self {
            upstream,
            service: Arc::new(service),
            rules,
            max_message_size,
        }
    }
}

impl<S> Clone for Forward<S> {
    fn clone(&self) -> Self {
        Self {
            upstream: self.upstream.clone(),
            service: self.service.clone(),
            rules: self.rules.clone(),
            max_message_size: self.max_message_size,
        }
    }
}

impl<S: PublicService> NamedService for Forward<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: PublicService> tower::Service<http::Request<Body>> for Forward<S> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let call = IncomingCall {
            channel: self.upstream.clone(),
            max_message_size: self.max_message_size,
            path: request.uri().path_and_query().cloned(),
            service: self.service.clone(),
            rules: self.rules.clone(),
        };
        let max = self.max_message_size;
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(OpaqueCodec)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max)
                .streaming(call, request)
                .await)
        })
    }
}

/// One call received, to authorize and then serve.
struct IncomingCall<S> {
    channel: TracedChannel,
    max_message_size: usize,
    path: Option<PathAndQuery>,
    service: Arc<S>,
    rules: Arc<AccessRules>,
}

impl<S: PublicService> StreamingService<Bytes> for IncomingCall<S> {
    type Response = Bytes;
    type ResponseStream = MessageStream;
    type Future = Answer;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let channel = self.channel.clone();
        let max_message_size = self.max_message_size;
        let path = self.path.take();
        let service = self.service.clone();
        let rules = self.rules.clone();
        Box::pin(async move {
            let path = path.ok_or_else(|| Status::internal("call without a path"))?;
            let rule = rules.rule(path.path()).cloned().ok_or_else(|| {
                Status::unimplemented(format!("{} is not served by the gateway", path.path()))
            })?;
            let grants = request
                .extensions()
                .get::<Caller>()
                .map(Caller::grants)
                .ok_or_else(|| Status::unauthenticated("no authenticated caller"))?;
            let (metadata, extensions, mut messages) = request.into_parts();
            // Every public RPC takes one request message: it names what the call touches.
            let message = messages
                .message()
                .await
                .map_err(too_large_is_exhausted)?
                .ok_or_else(|| Status::invalid_argument("the request carries no message"))?;
            policy::authorize(&rule, &grants, &message)?;
            let call = Call {
                path,
                rule,
                grants,
                message,
                metadata,
                extensions,
                channel,
                max_message_size,
            };
            match service.handle(call) {
                Handling::Forward(call) => forward(*call).await,
                Handling::Answered(answer) => answer.await,
            }
        })
    }
}

/// gRPC names an oversized message `RESOURCE_EXHAUSTED`; tonic reports `OUT_OF_RANGE`.
fn too_large_is_exhausted(status: Status) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        Status::resource_exhausted(status.message().to_owned())
    } else {
        status
    }
}

/// Replays `call` on its backend and streams the backend's answer back.
pub async fn forward(call: Call) -> Result<Response<MessageStream>, Status> {
    let Call {
        path,
        message,
        metadata,
        extensions,
        channel,
        max_message_size,
        ..
    } = call;
    let mut upstream = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size);
    upstream
        .ready()
        .await
        .map_err(|err| Status::unavailable(format!("backend unavailable: {err}")))?;
    let request = Request::from_parts(metadata, extensions, futures::stream::iter([message]));
    let response = upstream.streaming(request, path, OpaqueCodec).await?;
    Ok(response.map(|messages| messages.boxed()))
}

/// Opens the server stream `path` (a gRPC path) on `upstream` with the encoded `request`; its
/// messages arrive encoded, as the backend wrote them, for a shared feed to keep as they are.
pub(crate) async fn open_encoded_stream(
    upstream: &mut tonic::client::Grpc<TracedChannel>,
    path: &'static str,
    request: Bytes,
) -> Result<Streaming<Bytes>, Status> {
    upstream
        .ready()
        .await
        .map_err(|err| Status::unavailable(format!("backend unavailable: {err}")))?;
    let response = upstream
        .server_streaming(
            Request::new(request),
            PathAndQuery::from_static(path),
            OpaqueCodec,
        )
        .await?;
    Ok(response.into_inner())
}

/// A codec that leaves messages encoded: bytes in, the same bytes out.
#[derive(Debug, Clone, Copy, Default)]
struct OpaqueCodec;

impl Codec for OpaqueCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = OpaqueCodec;
    type Decoder = OpaqueCodec;

    fn encoder(&mut self) -> Self::Encoder {
        OpaqueCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        OpaqueCodec
    }
}

impl Encoder for OpaqueCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for OpaqueCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
