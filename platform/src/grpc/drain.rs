//! Ending open streams when a replica stops, so that their clients reconnect elsewhere.
//!
//! A graceful shutdown waits for the calls in flight, and a watch never ends by itself: a
//! replica stopping with watchers connected would wait until it is killed, and its watchers
//! would see a broken connection. Once the drain time after a shutdown has passed, every
//! response still open ends instead: a gRPC one with `UNAVAILABLE` ("reconnect"), which the
//! clients of a watch take as the cue to resume from their last position on another replica;
//! any other (a page's event stream) just ends, and the browser reconnects.

use std::{
    future::Future as _,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use axum::body::{Bytes, HttpBody};
use futures::task::AtomicWaker;
use http_body::Frame;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::body::Body;
use tower::{Layer, Service};

/// What a cut gRPC stream's trailers say.
pub const RECONNECT_MESSAGE: &str = "the server is shutting down: reconnect to resume";

/// Wraps every response body so that it ends when `cut` is cancelled.
#[derive(Clone)]
pub struct DrainLayer {
    cut: CancellationToken,
}

impl DrainLayer {
    /// Ends open responses once `cut` is cancelled.
    pub fn new(cut: CancellationToken) -> Self {
        Self { cut }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain {
            inner,
            cut: self.cut.clone(),
        }
    }
}

/// See [`DrainLayer`].
#[derive(Clone)]
pub struct Drain<S> {
    inner: S,
    cut: CancellationToken,
}

impl<S, Request, ResBody> Service<Request> for Drain<S>
where
    S: Service<Request, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.inner.call(request);
        let cut = self.cut.clone();
        Box::pin(async move {
            let response = response.await?;
            // Only a plain gRPC response can carry its status in HTTP trailers; gRPC-Web puts
            // them in the body, and other responses have none.
            let grpc = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|value| {
                    value.as_bytes().starts_with(b"application/grpc")
                        && !value.as_bytes().starts_with(b"application/grpc-web")
                });
            Ok(response.map(|inner| {
                Body::new(DrainBody {
                    inner: Box::pin(inner),
                    cut: CutSignal::watch(cut),
                    grpc,
                    ended: false,
                })
            }))
        })
    }
}

/// A response body that ends when its cut comes.
struct DrainBody<B> {
    inner: Pin<Box<B>>,
    cut: CutWatch,
    grpc: bool,
    ended: bool,
}

/// Whether the cut came, readable at every poll of a body without a lock.
///
/// Polling the token's own future at every frame locks what every open stream of the process
/// shares (the token's state, and its list of waiters): with a thousand watchers that lock is
/// taken a thousand times per event. The future is polled once instead, with a waker of this
/// body's own that records the cut and wakes the task that last polled the body.
struct CutWatch {
    signal: Arc<CutSignal>,
    /// Keeps the registration with the token alive.
    _waiting: Pin<Box<WaitForCancellationFutureOwned>>,
}

#[derive(Default)]
struct CutSignal {
    came: AtomicBool,
    task: AtomicWaker,
}

impl CutSignal {
    fn watch(cut: CancellationToken) -> CutWatch {
        let signal = Arc::new(CutSignal::default());
        let mut waiting = Box::pin(cut.cancelled_owned());
        let waker = Waker::from(signal.clone());
        if waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            signal.came.store(true, Ordering::Release);
        }
        CutWatch {
            signal,
            _waiting: waiting,
        }
    }
}

impl Wake for CutSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.came.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl CutWatch {
    /// Whether the cut came; if not, `cx`'s task is woken when it does.
    fn came(&self, cx: &Context<'_>) -> bool {
        // Registered before the flag is read: a cut between the two still wakes the task.
        self.signal.task.register(cx.waker());
        self.signal.came.load(Ordering::Acquire)
    }
}

impl<B> HttpBody for DrainBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if !this.cut.came(cx) {
            return Poll::Pending;
        }
        this.ended = true;
        if !this.grpc {
            return Poll::Ready(None);
        }
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            "grpc-status",
            http::HeaderValue::from(tonic::Code::Unavailable as i32),
        );
        trailers.insert(
            "grpc-message",
            http::HeaderValue::from_static(RECONNECT_MESSAGE),
        );
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };

    use super::*;
    use crate::{
        config::ServerSettings,
        grpc::{Endpoint, Reflection},
    };

    #[tokio::test]
    async fn a_stream_open_at_shutdown_ends_with_unavailable_after_the_drain_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let settings = ServerSettings {
            drain_timeout: Duration::from_millis(300),
            ..ServerSettings::loopback_any_port()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            Endpoint::new(Reflection::AllContracts)
                .serve(listener, &settings, async {
                    let _ = stopped.await;
                })
                .await
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        // A watch: it never ends by itself.
        let mut watch = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = watch.message().await.unwrap().unwrap();
        assert_eq!(first.status(), ServingStatus::Serving);

        stop.send(()).unwrap();
        // The shutdown is told first, then the stream is cut with the cue to reconnect.
        let told = watch.message().await.unwrap().unwrap();
        assert_eq!(told.status(), ServingStatus::NotServing);
        let cut = watch.message().await.unwrap_err();
        assert_eq!(cut.code(), tonic::Code::Unavailable, "{cut:?}");
        assert_eq!(cut.message(), RECONNECT_MESSAGE);
        // And the server, with nothing left open, stops.
        tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("the server stops once its streams are cut")
            .unwrap()
            .unwrap();
    }
}
