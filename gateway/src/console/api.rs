//! The public API, called in process with the signed-in person's token: the console is one
//! more client of the gateway, through the same authentication, access rules and forwarding
//! as grpcurl or the `eyrie` command.

use eyrie_platform::grpc::InProcess;
use eyrie_proto::v1::{
    self as pb, access_service_client::AccessServiceClient, book_service_client::BookServiceClient,
    deployment_service_client::DeploymentServiceClient, job_service_client::JobServiceClient,
    version_service_client::VersionServiceClient,
};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::{Request, Status, metadata::AsciiMetadataValue, service::Interceptor};

use super::PageError;

/// The transport of every client a page uses: the gateway's own services, in process, each call
/// carrying the session's token.
pub type Authorized = tonic::service::interceptor::InterceptedService<InProcess, Bearer>;

/// Adds `authorization: Bearer <token>` to each call (a sensitive value, never logged).
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The API as one caller: the clients of every public service, authorized with its token.
#[derive(Clone)]
pub struct Api {
    transport: Authorized,
}

impl Api {
    /// The API as the holder of `token`; `None` when the token cannot be sent as metadata
    /// (no valid token can be refused that way: they are ASCII).
    pub fn as_holder_of(services: &InProcess, token: &SecretString) -> Option<Self> {
        let mut value =
            AsciiMetadataValue::try_from(format!("Bearer {}", token.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(Self {
            transport: tonic::service::interceptor::InterceptedService::new(
                services.clone(),
                Bearer(value),
            ),
        })
    }

    /// `eyrie.v1.DeploymentService`.
    pub fn deployments(&self) -> DeploymentServiceClient<Authorized> {
        DeploymentServiceClient::new(self.transport.clone())
    }

    /// `eyrie.v1.JobService`.
    pub fn jobs(&self) -> JobServiceClient<Authorized> {
        JobServiceClient::new(self.transport.clone())
    }

    /// `eyrie.v1.VersionService`.
    pub fn versions(&self) -> VersionServiceClient<Authorized> {
        VersionServiceClient::new(self.transport.clone())
    }

    /// `eyrie.v1.BookService`.
    pub fn books(&self) -> BookServiceClient<Authorized> {
        BookServiceClient::new(self.transport.clone())
    }

    /// `eyrie.v1.AccessService`.
    pub fn access(&self) -> AccessServiceClient<Authorized> {
        AccessServiceClient::new(self.transport.clone())
    }

    /// The project `name`; a refusal becomes the page it calls for.
    pub async fn project(&self, name: &str) -> Result<pb::Project, PageError> {
        let request = pb::GetProjectRequest {
            name: name.to_owned(),
        };
        Ok(self.deployments().get_project(request).await?.into_inner())
    }

    /// The deployment group `name`.
    pub async fn group(&self, name: &str) -> Result<pb::DeploymentGroup, PageError> {
        let request = pb::GetDeploymentGroupRequest {
            name: name.to_owned(),
        };
        Ok(self
            .deployments()
            .get_deployment_group(request)
            .await?
            .into_inner())
    }

    /// The deployment `name`.
    pub async fn deployment(&self, name: &str) -> Result<pb::Deployment, PageError> {
        let request = pb::GetDeploymentRequest {
            name: name.to_owned(),
        };
        Ok(self
            .deployments()
            .get_deployment(request)
            .await?
            .into_inner())
    }
}
