//! W3C trace context carried in gRPC metadata, on the server side and on the client side.

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TraceContextExt as _,
};
use tower::{Layer, Service};
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Reads trace context from HTTP/2 headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes trace context into HTTP/2 headers (gRPC metadata).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// Writes the current span's trace context (`traceparent`, `tracestate`) into outgoing headers.
pub fn inject_current(headers: &mut HeaderMap) {
    let context = Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// The current span's trace context as a W3C `traceparent`, to be stored with work that goes on
/// after the call (an operation's later jobs); `None` outside any trace.
pub fn current_traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Makes `span` a child of the stored `traceparent` (see [`current_traceparent`]), so that work
/// done later belongs to the trace of the call that asked for it. A malformed or empty one leaves
/// the span where it is.
pub fn continue_trace(span: &Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    let Ok(value) = HeaderValue::try_from(traceparent) else {
        return;
    };
    headers.insert("traceparent", value);
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(&headers))
    });
    if parent.span().span_context().is_valid() {
        // Only fails when no OpenTelemetry layer is installed; the span is then local only.
        let _ = span.set_parent(parent);
    }
}

/// Server layer opening one span per call, parented on the caller's trace context.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcSpanLayer;

impl<S> Layer<S> for RpcSpanLayer {
    type Service = RpcSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcSpan { inner }
    }
}

/// See [`RpcSpanLayer`].
#[derive(Debug, Clone)]
pub struct RpcSpan<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for RpcSpan<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = rpc_span(&request);
        // Probes and reflection are frequent and uneventful: keep them out of the info log.
        let routine = is_routine(request.uri().path());
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                let result = future.await;
                if let Ok(response) = &result {
                    // Calls that fail before any message carry their status in the headers;
                    // others carry it in trailers, which this layer does not wait for.
                    let code = grpc_status(response.headers()).unwrap_or("0");
                    if routine {
                        tracing::debug!(grpc.status = code, "rpc answered");
                    } else {
                        tracing::info!(grpc.status = code, "rpc answered");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}

fn is_routine(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// The `grpc-status` a response or its trailers carry, as sent.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
}

/// Opens the server span of one call, parented on the remote context, with its ids recorded.
fn rpc_span<B>(request: &http::Request<B>) -> Span {
    let path = request.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Only fails when no OpenTelemetry layer is installed; the span is then local only.
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    span
}
