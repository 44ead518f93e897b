//! With `telemetry.otlp_endpoint` set, the services push their metrics over OTLP/gRPC too: a
//! collector run by the test receives the gateway's `rpc.server.duration` and book-runner-svc's
//! job gauges, each under its process's `service.name`.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use eyrie_tests::{EveryService, Suite, SuiteConfig, journey::Gateway};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_server::{MetricsService, MetricsServiceServer},
};
use tokio::sync::Notify;

/// How long the metrics may take to arrive: the services export every 100 ms (see below).
const EXPORT_WAIT: Duration = Duration::from_secs(30);

/// An OTLP/gRPC metrics collector keeping (service.name, metric name) of what it is sent.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<BTreeSet<(String, String)>>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_metrics in request.into_inner().resource_metrics {
            let service = eyrie_tests::otlp::service_name(resource_metrics.resource.as_ref());
            for scope in &resource_metrics.scope_metrics {
                for metric in &scope.metrics {
                    received.push((service.clone(), metric.name.clone()));
                }
            }
        }
        self.received.lock().unwrap().extend(received);
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(self.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        endpoint
    }

    async fn wait_for(&self, wanted: &[(&str, &str)]) {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                let received = self.received.lock().unwrap().clone();
                if wanted.iter().all(|(service, name)| {
                    received.contains(&((*service).to_owned(), (*name).to_owned()))
                }) {
                    return;
                }
                arrived.await;
            }
        };
        if tokio::time::timeout(EXPORT_WAIT, wait).await.is_err() {
            panic!(
                "{wanted:?} did not arrive in {EXPORT_WAIT:?}; received: {:#?}",
                self.received.lock().unwrap()
            );
        }
    }
}

#[tokio::test]
async fn the_services_push_their_metrics_to_the_otlp_collector() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let every = EveryService {
        toml: format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n"),
        // Every 60 s by default; the processes are killed at the end of the test.
        env: vec![("OTEL_METRIC_EXPORT_INTERVAL".into(), "100".into())],
        ..EveryService::default()
    };
    let suite = Suite::start_with_every(SuiteConfig::default(), every)
        .await
        .unwrap();
    let mut admin = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);
    admin.who_am_i().await.unwrap();

    collector
        .wait_for(&[
            ("gateway", "rpc.server.duration"),
            ("book-runner-svc", "eyrie.jobs.queued"),
        ])
        .await;
}
