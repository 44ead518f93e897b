//! The peers deployment-svc's use cases call, as small traits: book-runner-svc's books and
//! jobs, version-svc's history. Their gRPC forms are in `grpc::peers` and `grpc::books`; tests
//! put fakes in their place, so the use cases run without a network.

use std::fmt;

use eyrie_proto::{internal::v1::JobOutcome, v1 as pb};

use crate::domain::{
    DeploymentError,
    names::DeploymentName,
    operation::Operation,
    requirements::CatalogBook,
    resources::{Cluster, Deployment, DeploymentGroup, KeyFields, Project, Scope},
};

/// Where books live (book-runner-svc's BookService), asked whether a group's book references
/// exist and are of the group's type, and which parameters an action's books require.
#[async_trait::async_trait]
pub trait BookCatalog: Send + Sync + fmt::Debug {
    /// The book named `name`; `None` when there is no such book. `Unavailable` when the catalog
    /// cannot be reached.
    async fn book(&self, name: &str) -> Result<Option<CatalogBook>, DeploymentError>;
}

/// Runs the jobs of operations' phases (book-runner-svc's JobRunner).
#[async_trait::async_trait]
pub trait JobRunner: Send + Sync {
    /// Starts the job of `operation`'s current phase, which runs `book` for `context`.
    /// Idempotent: the request id is derived from the operation and phase, so a second start
    /// of the same phase answers the same job.
    async fn start_job(
        &self,
        operation: &Operation,
        book: &str,
        context: &DeploymentContext,
    ) -> Result<pb::Job, StartRefused>;

    /// The outcomes of `jobs` that ended (at most 500 names per call).
    async fn outcomes(&self, jobs: &[String]) -> Result<Vec<JobOutcome>, DeploymentError>;
}

/// Why a job did not start.
#[derive(Debug)]
pub enum StartRefused {
    /// The runner or the way to it failed; a later try of the same request may succeed.
    Transient(DeploymentError),
    /// The runner judged the request itself (its book, its snapshot, the project's rights):
    /// every try gets the same answer. The text says why, for the operation's message.
    Permanent(String),
}

/// The version history (version-svc), for rollbacks.
#[async_trait::async_trait]
pub trait VersionHistory: Send + Sync {
    /// The key fields of version `version` of `deployment`; `NotFound` when there is none.
    async fn key_fields(
        &self,
        deployment: &DeploymentName,
        version: i64,
    ) -> Result<KeyFields, DeploymentError>;
}

/// Everything a book's templates may read of a deployment: the deployment, where it lives and
/// the namespaces of its project's other deployments.
#[derive(Debug, Clone)]
pub struct DeploymentContext {
    /// The deployment.
    pub deployment: Deployment,
    /// Its project.
    pub project: Project,
    /// Its group.
    pub group: DeploymentGroup,
    /// Its scope.
    pub scope: Scope,
    /// Its clusters, in the deployment's order.
    pub clusters: Vec<Cluster>,
    /// The namespaces of the project's other deployments that are not dropped.
    pub project_namespaces: Vec<String>,
}
