//! The gateway's own public service: API tokens.

use eyrie_proto::v1::access_service_server::AccessService;

/// `eyrie.v1.AccessService`. Token management arrives with authentication (issue #7); until
/// then every call answers `UNIMPLEMENTED`.
#[derive(Debug, Clone, Default)]
pub struct AccessGrpc;

#[tonic::async_trait]
impl AccessService for AccessGrpc {}
