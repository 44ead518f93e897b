//! Starting version-svc for a test and building requests.

use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::{
    internal::v1::{
        RecordVersionRequest, RecordVersionResponse, version_recorder_client::VersionRecorderClient,
    },
    v1::{KeyFields, VersionReason, version_service_client::VersionServiceClient},
};
use eyrie_version_svc::{Settings, VersionSvc};
use tonic::transport::Channel;

pub const SHOP: &str = "projects/acme/groups/web/deployments/shop";

/// version-svc on `database`, with clients to it.
pub struct Running {
    /// Kept alive for the test; dropping it stops the service.
    pub _server: TestServer,
    pub recorder: VersionRecorderClient<Channel>,
    pub versions: VersionServiceClient<Channel>,
}

pub async fn start(database: DatabaseSettings) -> Running {
    let settings = Settings {
        server: ServerSettings::loopback_any_port(),
        database,
        ..Settings::default()
    };
    let server = TestServer::start::<VersionSvc>(settings).await.unwrap();
    let channel = server.channel().await.unwrap();
    Running {
        _server: server,
        recorder: VersionRecorderClient::new(channel.clone()),
        versions: VersionServiceClient::new(channel),
    }
}

pub fn key_fields(image: &str) -> KeyFields {
    KeyFields {
        repository: "git@github.com:acme/shop.git".into(),
        branch: "main".into(),
        image: image.into(),
        commit_ref: String::new(),
        clusters: vec!["projects/acme/clusters/eu".into()],
        scope: "projects/acme/scopes/dev".into(),
        parameters: [("db_host".to_owned(), "pg.acme".to_owned())].into(),
    }
}

pub fn record_request(deployment: &str, revision: i64, image: &str) -> RecordVersionRequest {
    RecordVersionRequest {
        deployment: deployment.into(),
        revision,
        key_fields: Some(key_fields(image)),
        actor: "tokens/admin".into(),
        reason: if revision == 1 {
            VersionReason::Create
        } else {
            VersionReason::Update
        }
        .into(),
        rollback_to_version: 0,
        time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000 + revision,
            nanos: 0,
        }),
        number: 0,
    }
}

pub async fn record(
    client: &mut VersionRecorderClient<Channel>,
    deployment: &str,
    revision: i64,
    image: &str,
) -> RecordVersionResponse {
    client
        .record_version(record_request(deployment, revision, image))
        .await
        .unwrap()
        .into_inner()
}

/// The field named in the `BadRequest` details of a refusal.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
