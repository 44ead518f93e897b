//! The gateway in-process, in front of a scripted runner.

use eyrie_gateway::{Gateway, Settings};
use eyrie_platform::{DatabaseSettings, ServerSettings, testing::TestServer};
use eyrie_proto::v1::{self as pb, job_service_client::JobServiceClient};
use tonic::{
    Streaming,
    transport::{Channel, ClientTlsConfig},
};

use eyrie_tests::scripted_job::{JOB, ScriptedJob};

/// The gateway in front of a scripted runner, with a global admin token.
pub struct Fixture {
    /// What stands for book-runner-svc.
    pub runner: ScriptedJob,
    /// The gateway.
    pub gateway: TestServer,
    /// Its bootstrap global-admin token.
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts the gateway with `configure`d settings.
    pub async fn start(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_serving(configure, None).await
    }

    /// Starts the gateway with `configure`d settings that serve TLS; its channels connect with
    /// `client`.
    pub async fn start_tls(configure: impl FnOnce(&mut Settings), client: ClientTlsConfig) -> Self {
        Self::start_serving(configure, Some(client)).await
    }

    async fn start_serving(
        configure: impl FnOnce(&mut Settings),
        client: Option<ClientTlsConfig>,
    ) -> Self {
        let runner = ScriptedJob::default();
        let runner_url = runner.serve().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            server: ServerSettings::loopback_any_port(),
            database: DatabaseSettings::with_url(format!(
                "sqlite://{}/gateway.sqlite?mode=rwc",
                dir.path().display()
            )),
            ..Settings::default()
        };
        settings.backends.book_runner = runner_url;
        settings.auth.bootstrap_token_file = Some(dir.path().join("admin-token"));
        configure(&mut settings);
        let gateway = match client {
            Some(client) => TestServer::start_tls::<Gateway>(settings, client).await,
            None => TestServer::start::<Gateway>(settings).await,
        }
        .unwrap();
        let token = std::fs::read_to_string(dir.path().join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Fixture {
            runner,
            gateway,
            token,
            _dir: dir,
        }
    }

    /// A new connection to the gateway.
    pub async fn channel(&self) -> Channel {
        self.gateway.channel().await.unwrap()
    }

    /// Watches the scripted job from `after_sequence`.
    pub async fn watch(
        &self,
        channel: Channel,
        after_sequence: u64,
    ) -> Streaming<pb::WatchJobResponse> {
        let request = eyrie_tests::auth::with_token(
            &self.token,
            pb::WatchJobRequest {
                name: JOB.into(),
                after_sequence,
            },
        );
        JobServiceClient::new(channel)
            .watch_job(request)
            .await
            .unwrap()
            .into_inner()
    }
}
