//! The gateway's health reflects its backends: a service whose backend does not answer is
//! reported `NOT_SERVING`, so that load balancers and operators see what clients would hit.

use std::time::Duration;

use eyrie_platform::grpc::TracedChannel;
use tonic::Code;
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_client::HealthClient},
    server::HealthReporter,
};

/// A backend and the public services the gateway routes to it.
pub struct Backend {
    /// Its channel.
    pub channel: TracedChannel,
    /// The services served through it, by full name.
    pub services: &'static [&'static str],
}

/// Checks every backend each `interval`, for as long as the gateway runs.
pub fn watch(backends: Vec<Backend>, health: HealthReporter, interval: Duration) {
    for backend in backends {
        let health = health.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            let mut last = None;
            loop {
                ticks.tick().await;
                let status = check(backend.channel.clone(), interval).await;
                if last != Some(status) {
                    if status == ServingStatus::NotServing {
                        tracing::warn!(services = ?backend.services, "backend not serving");
                    }
                    for service in backend.services {
                        health.set_service_status(*service, status).await;
                    }
                    last = Some(status);
                }
            }
        });
    }
}

/// The backend's own answer for the whole server; a backend without a health service but
/// answering counts as serving.
async fn check(channel: TracedChannel, timeout: Duration) -> ServingStatus {
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.set_timeout(timeout);
    match HealthClient::new(channel).check(request).await {
        Ok(response) if response.get_ref().status == ServingStatus::Serving as i32 => {
            ServingStatus::Serving
        }
        Err(status) if status.code() == Code::Unimplemented => ServingStatus::Serving,
        _ => ServingStatus::NotServing,
    }
}
