//! The gRPC adapter of version-svc: thin handlers over [`Versions`].

mod convert;
mod status;

use eyrie_platform::{
    names::{DeploymentName, VersionName},
    paging::{decode_token, encode_token, page_size},
    status::FieldViolation,
};
use eyrie_proto::{
    internal::v1::{
        RecordVersionRequest, RecordVersionResponse, version_recorder_server::VersionRecorder,
    },
    v1::{
        DeploymentVersion, DiffVersionsRequest, DiffVersionsResponse, GetVersionRequest,
        ListVersionsRequest, ListVersionsResponse, version_service_server::VersionService,
    },
};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::{
    domain::{NewVersion, VersionError},
    service::Versions,
    store::VersionStore,
};

/// Serves `eyrie.v1.VersionService` and `eyrie.internal.v1.VersionRecorder`.
#[derive(Debug)]
pub struct VersionGrpc<S> {
    versions: std::sync::Arc<Versions<S>>,
}

impl<S> Clone for VersionGrpc<S> {
    fn clone(&self) -> Self {
        Self {
            versions: self.versions.clone(),
        }
    }
}

impl<S: VersionStore> VersionGrpc<S> {
    /// Serves `versions`.
    pub fn new(versions: Versions<S>) -> Self {
        Self {
            versions: std::sync::Arc::new(versions),
        }
    }
}

/// Where the next page of ListVersions starts; bound to its deployment so a token cannot be
/// replayed against another list.
#[derive(Debug, Serialize, Deserialize)]
struct VersionsPosition {
    deployment: String,
    before: i64,
}

fn invalid(violation: FieldViolation) -> Status {
    VersionError::invalid(violation).into()
}

#[tonic::async_trait]
impl<S: VersionStore> VersionService for VersionGrpc<S> {
    async fn list_versions(
        &self,
        request: Request<ListVersionsRequest>,
    ) -> Result<Response<ListVersionsResponse>, Status> {
        let request = request.into_inner();
        let deployment = DeploymentName::parse("parent", &request.parent).map_err(invalid)?;
        let limit = page_size(request.page_size).map_err(invalid)?;
        let position: Option<VersionsPosition> =
            decode_token(&request.page_token).map_err(invalid)?;
        if let Some(position) = &position
            && position.deployment != request.parent
        {
            return Err(invalid(FieldViolation::new(
                "page_token",
                "belongs to the versions of another deployment",
            )));
        }
        let page = self
            .versions
            .list(&deployment, position.map(|p| p.before), limit)
            .await?;
        Ok(Response::new(ListVersionsResponse {
            versions: page.versions.into_iter().map(Into::into).collect(),
            next_page_token: page
                .next_before
                .map(|before| {
                    encode_token(&VersionsPosition {
                        deployment: request.parent,
                        before,
                    })
                })
                .unwrap_or_default(),
        }))
    }

    async fn get_version(
        &self,
        request: Request<GetVersionRequest>,
    ) -> Result<Response<DeploymentVersion>, Status> {
        let name = VersionName::parse("name", &request.into_inner().name).map_err(invalid)?;
        Ok(Response::new(self.versions.get(&name).await?.into()))
    }

    async fn diff_versions(
        &self,
        request: Request<DiffVersionsRequest>,
    ) -> Result<Response<DiffVersionsResponse>, Status> {
        let request = request.into_inner();
        let from = VersionName::parse("from", &request.from);
        let to = VersionName::parse("to", &request.to);
        let (from, to) = match (from, to) {
            (Ok(from), Ok(to)) => (from, to),
            (from, to) => {
                let violations = [from.err(), to.err()].into_iter().flatten().collect();
                return Err(VersionError::Invalid(violations).into());
            }
        };
        let diff = self.versions.diff(&from, &to).await?;
        Ok(Response::new(DiffVersionsResponse {
            from: Some(diff.from.into()),
            to: Some(diff.to.into()),
            changes: diff.changes.into_iter().map(Into::into).collect(),
        }))
    }
}

#[tonic::async_trait]
impl<S: VersionStore> VersionRecorder for VersionGrpc<S> {
    async fn record_version(
        &self,
        request: Request<RecordVersionRequest>,
    ) -> Result<Response<RecordVersionResponse>, Status> {
        let new = NewVersion::try_from(request.into_inner())?;
        let recorded = self.versions.record(&new).await?;
        tracing::info!(
            deployment = %new.deployment,
            revision = new.revision,
            version = recorded.version.number,
            created = recorded.created,
            "version recorded"
        );
        Ok(Response::new(RecordVersionResponse {
            version: Some(recorded.version.into()),
            created: recorded.created,
        }))
    }
}
