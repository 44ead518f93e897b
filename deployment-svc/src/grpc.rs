//! The gRPC adapter of deployment-svc.

use eyrie_proto::{
    internal::v1::deployment_callbacks_server::DeploymentCallbacks,
    v1::deployment_service_server::DeploymentService,
};

/// Serves `eyrie.v1.DeploymentService` and `eyrie.internal.v1.DeploymentCallbacks`. The
/// lifecycle arrives with issue #6; until then every call answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Default)]
pub struct DeploymentGrpc;

#[tonic::async_trait]
impl DeploymentService for DeploymentGrpc {}

#[tonic::async_trait]
impl DeploymentCallbacks for DeploymentGrpc {}
