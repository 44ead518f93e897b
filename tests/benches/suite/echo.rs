//! The floor of a gRPC call on this machine: a bare tonic server and client in one process,
//! answering the smallest unary call there is (a health check).

use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A running echo server and a client connected to it.
pub struct Echo {
    client: HealthClient<Channel>,
}

impl Echo {
    /// Serves a health service on a free loopback port and connects to it.
    pub async fn start() -> anyhow::Result<Self> {
        let (_reporter, service) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(Self {
            client: HealthClient::new(channel),
        })
    }

    /// One round trip.
    pub async fn call(&self) -> anyhow::Result<()> {
        self.client
            .clone()
            .check(HealthCheckRequest::default())
            .await?;
        Ok(())
    }
}
