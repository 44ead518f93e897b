//! Starting book-runner-svc (or only its book store) for a books test, and building requests.

use eyrie_book_runner_svc::{
    BookRunnerSvc, Settings,
    store::{books::SeaBookStore, migration::Migrator},
};
use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::v1::{
    self as pb, BookFormat, BookSource, CreateBookRequest, DeploymentSnapshot, GetBookRequest,
    KeyFields, book_service_client::BookServiceClient, create_book_request,
    deployment_snapshot as snap,
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
          name: "{{ deployment.slug }}"
          namespace: "{{ namespace }}"
        spec:
          ports: [{port: {{ deployment.parameters.port }}}]
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

/// An inline snapshot of deployment `shop` (image `registry.example/shop:2.1`, namespace
/// `acme-shop`) on one directory cluster, with `parameters`.
pub fn snapshot(
    deployment_type: pb::DeploymentType,
    parameters: &[(&str, &str)],
) -> DeploymentSnapshot {
    DeploymentSnapshot {
        deployment: Some(snap::Deployment {
            name: "projects/acme/groups/web/deployments/shop".into(),
            slug: "shop".into(),
            display_name: "Shop".into(),
            key_fields: Some(KeyFields {
                repository: "git@github.com:acme/shop.git".into(),
                branch: "main".into(),
                image: "registry.example/shop:2.1".into(),
                commit_ref: "4f2a9c1".into(),
                clusters: vec!["projects/acme/clusters/c1".into()],
                scope: "projects/acme/scopes/dev".into(),
                parameters: parameters
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }),
            state: pb::DeploymentState::Deploy.into(),
        }),
        project: Some(snap::Project {
            name: "projects/acme".into(),
            slug: "acme".into(),
            display_name: "Acme".into(),
        }),
        group: Some(snap::Group {
            name: "projects/acme/groups/web".into(),
            slug: "web".into(),
            display_name: "Web".into(),
            r#type: deployment_type.into(),
        }),
        scope: Some(snap::Scope {
            name: "projects/acme/scopes/dev".into(),
            slug: "dev".into(),
            display_name: "Dev".into(),
            allow_drop: true,
        }),
        clusters: vec![snap::Cluster {
            name: "projects/acme/clusters/c1".into(),
            slug: "c1".into(),
            display_name: "C1".into(),
            connection: Some(snap::cluster::Connection::Directory(
                pb::DirectoryConnection { path: "c1".into() },
            )),
        }],
        namespace: "acme-shop".into(),
        version: 3,
        revision: 7,
    }
}
