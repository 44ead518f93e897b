//! One Deploy through the gateway is one trace across the suite: the services export their spans
//! over OTLP/gRPC to a collector run by the test, and the spans of the gateway, deployment-svc
//! and book-runner-svc share the caller's trace id, each hop parented on the one before it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use eyrie_proto::v1 as pb;
use eyrie_tests::{
    EveryService, Suite, SuiteConfig,
    journey::{ClusterFolder, Controllers, Gateway},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    trace::v1::Span,
};
use tokio::sync::Notify;

/// The caller's trace: trace id, then the span id of the caller's own (client) span.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN_ID: &str = "b7ad6b7169203331";

/// How long the spans may take to arrive: the services export every 100 ms (see below).
const EXPORT_WAIT: Duration = Duration::from_secs(30);

/// A span as the collector received it, with the `service.name` of the process that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

impl Received {
    fn new(service: &str, span: &Span) -> Self {
        Self {
            service: service.to_owned(),
            name: span.name.clone(),
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: hex(&span.parent_span_id),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An OTLP/gRPC trace collector that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = eyrie_tests::otlp::service_name(resource_spans.resource.as_ref());
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    received.push(Received::new(&service, span));
                }
            }
        }
        self.spans.lock().unwrap().extend(received);
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves the collector on a free loopback port; returns its `http://` endpoint.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        endpoint
    }

    /// Waits (bounded) until the spans received so far satisfy `done`; returns them.
    async fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                let spans = self.spans.lock().unwrap().clone();
                if done(&spans) {
                    return spans;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(EXPORT_WAIT, wait).await {
            Ok(spans) => spans,
            Err(_) => panic!(
                "the spans did not arrive in {EXPORT_WAIT:?}; received: {:#?}",
                self.spans.lock().unwrap()
            ),
        }
    }
}

/// The server span of `method` (`package.Service/Method`) in `service`, in the test's trace.
fn rpc_span<'a>(spans: &'a [Received], service: &str, method: &str) -> Option<&'a Received> {
    spans
        .iter()
        .find(|span| span.trace_id == TRACE_ID && span.service == service && span.name == method)
}

#[tokio::test]
async fn one_deploy_is_one_trace_from_the_gateway_to_the_book_runner() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let every = EveryService {
        toml: format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n"),
        // The batch exporter's delay (5 s by default): the processes are killed, not stopped,
        // at the end of the test, so spans must leave soon after they end.
        env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
        ..EveryService::default()
    };
    let suite = Suite::start_with_every(SuiteConfig::default(), every)
        .await
        .unwrap();
    let cluster = ClusterFolder::new(suite.clusters_dir().join("local"));
    let _controllers = Controllers::start(cluster.root());
    let mut admin = Gateway::new(suite.gateway_channel().await.unwrap(), &suite.admin_token);

    admin
        .create_shop("acme", "Acme", cluster.root())
        .await
        .unwrap();

    // One Deploy, sent as part of the caller's trace.
    let mut request = admin.request(pb::DeployDeploymentRequest {
        name: "projects/acme/groups/web/deployments/shop".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    let operation = admin
        .deployments
        .deploy_deployment(request)
        .await
        .unwrap()
        .into_inner();
    let ended = admin.ended(&operation.name).await.unwrap();
    assert_eq!(
        ended.status(),
        pb::OperationStatus::Succeeded,
        "{}",
        ended.message
    );

    const DEPLOY: &str = "eyrie.v1.DeploymentService/DeployDeployment";
    const START_JOB: &str = "eyrie.internal.v1.JobRunner/StartJob";
    let spans = collector
        .wait_for(|spans| {
            rpc_span(spans, "gateway", DEPLOY).is_some()
                && rpc_span(spans, "deployment-svc", DEPLOY).is_some()
                && rpc_span(spans, "book-runner-svc", START_JOB).is_some()
        })
        .await;
    let in_trace: Vec<&Received> = spans
        .iter()
        .filter(|span| span.trace_id == TRACE_ID)
        .collect();
    let services: HashSet<&str> = in_trace.iter().map(|span| span.service.as_str()).collect();
    for service in ["gateway", "deployment-svc", "book-runner-svc"] {
        assert!(services.contains(service), "{service}: {in_trace:#?}");
    }
    let span_ids_of = |service: &str| -> HashSet<&str> {
        in_trace
            .iter()
            .filter(|span| span.service == service)
            .map(|span| span.span_id.as_str())
            .collect()
    };

    // Each hop's server span is the child of a span of the hop before it.
    let gateway = rpc_span(&spans, "gateway", DEPLOY).unwrap();
    assert_eq!(gateway.parent_span_id, CLIENT_SPAN_ID, "{gateway:?}");
    let deployments = rpc_span(&spans, "deployment-svc", DEPLOY).unwrap();
    assert!(
        span_ids_of("gateway").contains(deployments.parent_span_id.as_str()),
        "deployment-svc's span is not a child of the gateway's: {in_trace:#?}"
    );
    let runner = rpc_span(&spans, "book-runner-svc", START_JOB).unwrap();
    assert!(
        span_ids_of("deployment-svc").contains(runner.parent_span_id.as_str()),
        "book-runner-svc's span is not a child of deployment-svc's: {in_trace:#?}"
    );
    // Every span of the trace hangs from the caller's span: no orphan within the trace.
    let all_ids: HashSet<&str> = in_trace.iter().map(|span| span.span_id.as_str()).collect();
    for span in &in_trace {
        assert!(
            span.parent_span_id == CLIENT_SPAN_ID || all_ids.contains(span.parent_span_id.as_str()),
            "{span:?} has a parent outside the trace: {in_trace:#?}"
        );
    }
}
