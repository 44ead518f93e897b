//! Metrics: one OpenTelemetry meter provider per process, read by Prometheus at `GET /metrics` on
//! every service's port ([`scrape`]) and pushed over OTLP when `telemetry.otlp_endpoint` is set.
//!
//! Every instrument is made from [`meter`]. Labels are bounded sets only (method names from the
//! contracts, status codes, outcomes, step kinds, feed kinds): never a project, deployment,
//! token or any other name a tenant chooses.

pub mod rpc;
pub mod scrape;

use std::sync::OnceLock;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider};

/// The name of the meter (instrumentation scope) of every Eyrie instrument.
pub const METER: &str = "eyrie";

/// The process's meter provider and the Prometheus registry its scrape reader fills.
struct Installed {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

fn build(
    resource: Option<Resource>,
    otlp: Option<opentelemetry_otlp::MetricExporter>,
) -> Installed {
    let registry = prometheus::Registry::new();
    let scrape = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        // Every instrument is Eyrie's: the scope adds nothing but a label on every series.
        .scope_info_enabled(false)
        .build()
        .expect("a new registry accepts the exporter's collector");
    let mut builder = SdkMeterProvider::builder().with_reader(scrape);
    if let Some(resource) = resource {
        builder = builder.with_resource(resource);
    }
    if let Some(exporter) = otlp {
        // Pushed every 60 s (`OTEL_METRIC_EXPORT_INTERVAL`, in milliseconds, changes it).
        builder = builder.with_periodic_exporter(exporter);
    }
    Installed {
        provider: builder.build(),
        registry,
    }
}

fn installed() -> &'static Installed {
    // A process that never called `telemetry::init` (a test) still counts, for `/metrics`.
    INSTALLED.get_or_init(|| build(None, None))
}

/// Installs the process's meter provider: the Prometheus reader always, the OTLP exporter when
/// `otlp` is given. Called once, by [`crate::telemetry::init`], before any instrument is made;
/// returns the provider, to be shut down last (flushing what OTLP has not sent yet).
pub(crate) fn install(
    resource: Resource,
    otlp: Option<opentelemetry_otlp::MetricExporter>,
) -> SdkMeterProvider {
    let mut otlp = otlp;
    let installed = INSTALLED.get_or_init(|| build(Some(resource), otlp.take()));
    if otlp.is_some() {
        tracing::warn!(
            "metrics were recorded before telemetry was set up: they are not exported over OTLP"
        );
    }
    opentelemetry::global::set_meter_provider(installed.provider.clone());
    installed.provider.clone()
}

/// Seconds from `time` to now (0 for a time to come), as durations are recorded.
pub fn seconds_since(time: chrono::DateTime<chrono::Utc>) -> f64 {
    (chrono::Utc::now() - time)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64()
}

/// The meter every Eyrie instrument is made from.
pub fn meter() -> Meter {
    installed().provider.meter(METER)
}

/// Every metric of the process, in Prometheus' text exposition format.
pub fn prometheus_text() -> String {
    let families = installed().registry.gather();
    prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .unwrap_or_else(|err| format!("# metrics could not be encoded: {err}\n"))
}

/// Histogram boundaries, in seconds, for work that takes from milliseconds to many minutes
/// (jobs, steps, queues, deliveries).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0,
];
