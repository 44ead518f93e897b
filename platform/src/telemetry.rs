//! Logs, traces and metrics, set up once per process.
//!
//! Every process gets an OpenTelemetry tracer, so that spans carry W3C trace ids that travel
//! across gRPC hops, and a meter provider ([`crate::metrics`]) that Prometheus reads at
//! `GET /metrics`; spans and metrics leave the process over OTLP only when an endpoint is
//! configured.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::config::{LogFormat, TelemetrySettings};

/// Keeps the tracer and the meter provider alive; [`TelemetryGuard::shutdown`] flushes spans
/// and metrics not yet exported.
#[must_use = "dropping the guard early loses spans that were not exported yet"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl TelemetryGuard {
    /// Flushes and stops the exporters. Call it last, after the servers have stopped.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry: flushing spans failed: {err}");
        }
        if let Err(err) = self.meters.shutdown() {
            eprintln!("telemetry: flushing metrics failed: {err}");
        }
    }
}

/// Installs the global subscriber (logs to stderr, spans to OpenTelemetry) and the W3C propagator.
///
/// `service` names the process in exported spans (`service.name`). Fails when called twice.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let mut provider = SdkTracerProvider::builder().with_resource(resource.clone());
    let metrics_exporter = match &settings.otlp_endpoint {
        Some(endpoint) => Some(
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .with_context(|| {
                    format!("cannot build the OTLP metrics exporter for {endpoint}")
                })?,
        ),
        None => None,
    };
    let meters = crate::metrics::install(resource, metrics_exporter);
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .with_context(|| format!("cannot build the OTLP exporter for {endpoint}"))?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_tracer_provider(provider.clone());

    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.log_filter));
    let fmt_layer = match settings.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colours only for a person at a terminal, never in files or collectors.
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .boxed(),
    };
    let otel_layer =
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()));

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .context("telemetry is already initialised in this process")?;
    Ok(TelemetryGuard { provider, meters })
}
