//! Forwarding the calls of one public service to its backend, message by message.
//!
//! The gateway does not decode what it forwards: messages pass as opaque bytes, so every RPC
//! of a service (unary or streaming) goes through one code path and a new RPC in the contract
//! needs no gateway change. Only services registered here are reachable; the internal package
//! never is.

use std::{
    convert::Infallible,
    marker::PhantomData,
    task::{Context, Poll},
};

use bytes::{Buf as _, BufMut as _, Bytes};
use eyrie_platform::grpc::TracedChannel;
use futures::{StreamExt as _, future::BoxFuture};
use http::uri::PathAndQuery;
use tonic::{
    Request, Response, Status, Streaming,
    body::Body,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    server::{NamedService, StreamingService},
};

/// Names the public service a [`Forward`] serves (tonic routes by `NamedService::NAME`).
pub trait PublicService: Send + Sync + 'static {
    /// Fully qualified service name, e.g. `eyrie.v1.JobService`.
    const NAME: &'static str;
}

/// Serves every call of `S` by replaying it on `upstream`.
pub struct Forward<S> {
    upstream: TracedChannel,
    service: PhantomData<fn() -> S>,
}

impl<S> Forward<S> {
    /// Forwards to `upstream`, a channel balanced over the backend's replicas.
    pub fn new(upstream: TracedChannel) -> Self {
        Self {
            upstream,
            service: PhantomData,
        }
    }
}

impl<S> Clone for Forward<S> {
    fn clone(&self) -> Self {
        Self::new(self.upstream.clone())
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
        let call = UpstreamCall {
            upstream: tonic::client::Grpc::new(self.upstream.clone()),
            path: request.uri().path_and_query().cloned(),
        };
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(OpaqueCodec)
                .streaming(call, request)
                .await)
        })
    }
}

/// One call being replayed upstream.
struct UpstreamCall {
    upstream: tonic::client::Grpc<TracedChannel>,
    path: Option<PathAndQuery>,
}

impl StreamingService<Bytes> for UpstreamCall {
    type Response = Bytes;
    type ResponseStream = Streaming<Bytes>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let mut upstream = self.upstream.clone();
        let path = self.path.take();
        Box::pin(async move {
            let path = path.ok_or_else(|| Status::internal("call without a path"))?;
            upstream
                .ready()
                .await
                .map_err(|err| Status::unavailable(format!("backend unavailable: {err}")))?;
            // A client stream that breaks mid-way simply ends the upstream request stream;
            // the backend then answers for what it received.
            let request = request.map(|messages| {
                messages
                    .take_while(|m| futures::future::ready(m.is_ok()))
                    .filter_map(|m| futures::future::ready(m.ok()))
            });
            upstream.streaming(request, path, OpaqueCodec).await
        })
    }
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
