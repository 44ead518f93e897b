//! Starting book-runner-svc (or only its book store) for a books test, and building requests.

use eyrie_book_runner_svc::{
    BookRunnerSvc, Settings,
    store::{books::SeaBookStore, migration::Migrator},
};
use eyrie_platform::{
    DatabaseSettings, ServerSettings,
    testing::{TestServer, sample_deployment_snapshot},
};
use eyrie_proto::v1::{
    self as pb, BookFormat, BookSource, CreateBookRequest, DeploymentSnapshot, GetBookRequest,
    book_service_client::BookServiceClient, create_book_request,
};
use tonic::transport::Channel;

/// A valid book of type `none` with one required parameter, written as people write books.
pub const WEB_BOOK: &str = r#"
name: web-deploy
display_name: Web deploy
description: Runs the web app.
type: none
parameters:
  - name: host
    required: true
  - name: port
    default: "8080"
steps:
  - name: Apply the Service
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ deployment.slug }}
          namespace: {{ namespace }}
        spec:
          ports: [{port: {{ deployment.parameters.port | int }}}]
    timeout: 90s
    retries: 2
  - name: Wait for the Service
    uses: k8s.wait
    with: {api_version: v1, kind: Service, name: "{{ deployment.slug }}", namespace: "{{ namespace }}", condition: exists}
"#;

/// book-runner-svc on `database`, with a BookService client.
pub struct Running {
    /// Kept alive for the test; dropping it stops the service.
    pub _server: TestServer,
    pub books: BookServiceClient<Channel>,
}

/// Starts book-runner-svc on `database`.
pub async fn start(database: DatabaseSettings) -> Running {
    start_with(Settings {
        server: ServerSettings::loopback_any_port(),
        database,
        ..Settings::default()
    })
    .await
}

/// Starts book-runner-svc with `settings`.
pub async fn start_with(settings: Settings) -> Running {
    let server = TestServer::start::<BookRunnerSvc>(settings).await.unwrap();
    let channel = server.channel().await.unwrap();
    Running {
        _server: server,
        books: BookServiceClient::new(channel),
    }
}

/// A book store on `database`, migrated.
pub async fn store(database: &DatabaseSettings) -> SeaBookStore {
    let db = eyrie_platform::db::connect_and_migrate::<Migrator>(database)
        .await
        .unwrap();
    SeaBookStore::new(db)
}

/// A YAML source.
pub fn yaml(text: &str) -> BookSource {
    BookSource {
        format: BookFormat::Yaml.into(),
        text: text.to_owned(),
    }
}

/// CreateBook of a YAML text.
pub fn create_yaml(parent: &str, book_id: &str, text: &str) -> CreateBookRequest {
    CreateBookRequest {
        parent: parent.to_owned(),
        book_id: book_id.to_owned(),
        content: Some(create_book_request::Content::Source(yaml(text))),
        request_id: String::new(),
    }
}

/// Creates a book from YAML, panicking on refusal.
pub async fn create(running: &mut Running, parent: &str, book_id: &str, text: &str) -> pb::Book {
    running
        .books
        .create_book(create_yaml(parent, book_id, text))
        .await
        .unwrap()
        .into_inner()
}

/// Reads a book.
pub async fn get(running: &mut Running, name: &str) -> Result<pb::Book, tonic::Status> {
    running
        .books
        .get_book(GetBookRequest {
            name: name.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The fields named in the `BadRequest` details of a refusal.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// An inline snapshot of deployment `shop` (image `registry.example/shop:1.0`, namespace
/// `acme-shop`) on one directory cluster, with `parameters`.
pub fn snapshot(
    deployment_type: pb::DeploymentType,
    parameters: &[(&str, &str)],
) -> DeploymentSnapshot {
    let type_name = deployment_type
        .as_str_name()
        .trim_start_matches("DEPLOYMENT_TYPE_");
    sample_deployment_snapshot(type_name, "c1", parameters)
}
