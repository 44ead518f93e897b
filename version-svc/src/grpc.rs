//! The gRPC adapter of version-svc.

use eyrie_proto::{
    internal::v1::version_recorder_server::VersionRecorder,
    v1::version_service_server::VersionService,
};

/// Serves `eyrie.v1.VersionService` and `eyrie.internal.v1.VersionRecorder`. Version tracking
/// arrives with issue #5; until then every call answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Default)]
pub struct VersionGrpc;

#[tonic::async_trait]
impl VersionService for VersionGrpc {}

#[tonic::async_trait]
impl VersionRecorder for VersionGrpc {}
