//! `rpc.server.duration`: every gRPC call a server answers, by method and status code, as the
//! OpenTelemetry semantic conventions for RPC (v1.37) name it. Its count is the call rate, the
//! count with `rpc.grpc.status_code` other than 0 the error rate, its buckets the latency.

use std::{
    collections::HashMap,
    convert::Infallible,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
    time::Instant,
};

use axum::body::Bytes;
use futures::future::BoxFuture;
use http_body::{Body as _, Frame, SizeHint};
use opentelemetry::{KeyValue, metrics::Histogram};
use prost::Message as _;
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};

/// What stands for a method no contract names (any path a client makes up): the label sets
/// stay bounded whatever is sent.
pub const OTHER: &str = "_OTHER";

/// `/package.Service/Method` of every method served anywhere in Eyrie → (service, method).
static KNOWN: LazyLock<HashMap<String, (String, String)>> = LazyLock::new(|| {
    let mut known = HashMap::new();
    let mut add = |service: &str, method: &str| {
        known.insert(
            format!("/{service}/{method}"),
            (service.to_owned(), method.to_owned()),
        );
    };
    add("grpc.health.v1.Health", "Check");
    add("grpc.health.v1.Health", "Watch");
    add(
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
    );
    add(
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
    );
    let contracts = prost_types::FileDescriptorSet::decode(eyrie_proto::FILE_DESCRIPTOR_SET)
        .expect("the contracts' descriptors decode");
    for file in &contracts.file {
        for service in &file.service {
            let service_name = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                add(&service_name, method.name());
            }
        }
    }
    known
});

/// The method of `path` as labels: its service and its name, or [`OTHER`] twice.
fn method_of(path: &str) -> (&'static str, &'static str) {
    KNOWN.get(path).map_or((OTHER, OTHER), |(service, method)| {
        (service.as_str(), method.as_str())
    })
}

static DURATION: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    super::meter()
        .f64_histogram("rpc.server.duration")
        .with_unit("ms")
        .with_description(
            "Duration of the gRPC calls this server answered, to their status (a stream's \
             whole life), by method and status code",
        )
        .with_boundaries(vec![
            1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
            30000.0, 60000.0,
        ])
        .build()
});

/// The status code a response carries in its headers (a "trailers-only" answer: most refusals).
fn code_in(headers: &http::HeaderMap) -> Option<Code> {
    let value = crate::trace_context::grpc_status(headers)?;
    value.parse::<i32>().ok().map(Code::from_i32)
}

/// One call being answered, recorded once, when its status is known.
struct Call {
    service: &'static str,
    method: &'static str,
    started: Instant,
}

impl Call {
    fn record(self, code: Code) {
        let elapsed = self.started.elapsed().as_secs_f64() * 1000.0;
        DURATION.record(
            elapsed,
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", self.service),
                KeyValue::new("rpc.method", self.method),
                KeyValue::new("rpc.grpc.status_code", i64::from(i32::from(code))),
            ],
        );
    }
}

/// Server layer recording [`rpc.server.duration`](self) for every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S> Service<http::Request<Body>> for RpcMetrics<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let (service, method) = method_of(request.uri().path());
        let call = Call {
            service,
            method,
            started: Instant::now(),
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if let Some(code) = code_in(response.headers()) {
                call.record(code);
                return Ok(response);
            }
            if response.body().is_end_stream() {
                // No message and no status: not a gRPC answer.
                call.record(Code::Unknown);
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(MeteredBody {
                    inner: body,
                    call: Some(call),
                })
            }))
        })
    }
}

/// A response body that records its call when the trailers (the status) go out, or when it
/// is dropped unfinished (the client went away: `CANCELLED`).
struct MeteredBody {
    inner: Body,
    call: Option<Call>,
}

impl MeteredBody {
    fn finish(&mut self, code: Code) {
        if let Some(call) = self.call.take() {
            call.record(code);
        }
    }
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = code_in(trailers).unwrap_or(Code::Unknown);
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code();
                self.finish(code);
            }
            Poll::Ready(None) => self.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_contracts_and_anything_else_is_other() {
        assert_eq!(
            method_of("/eyrie.v1.DeploymentService/GetDeployment"),
            ("eyrie.v1.DeploymentService", "GetDeployment")
        );
        assert_eq!(
            method_of("/eyrie.internal.v1.JobRunner/StartJob"),
            ("eyrie.internal.v1.JobRunner", "StartJob")
        );
        assert_eq!(
            method_of("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            method_of("/eyrie.v1.DeploymentService/projects-acme-secret"),
            (OTHER, OTHER)
        );
        assert_eq!(method_of("/anything"), (OTHER, OTHER));
    }
}
