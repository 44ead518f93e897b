//! The book catalog over book-runner-svc's BookService.

use eyrie_platform::grpc::TracedChannel;
use eyrie_proto::v1::{GetBookRequest, book_service_client::BookServiceClient};
use tonic::Code;

use crate::{domain::DeploymentError, service::resources::BookCatalog};

/// Asks book-runner-svc (`peers` configuration) about the books groups name.
#[derive(Debug, Clone)]
pub struct RemoteBookCatalog {
    client: BookServiceClient<TracedChannel>,
}

impl RemoteBookCatalog {
    /// Uses `client`.
    pub fn new(client: BookServiceClient<TracedChannel>) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl BookCatalog for RemoteBookCatalog {
    async fn book_type(&self, name: &str) -> Result<Option<String>, DeploymentError> {
        let answer = self
            .client
            .clone()
            .get_book(GetBookRequest {
                name: name.to_owned(),
            })
            .await;
        match answer {
            Ok(book) => {
                let book = book.into_inner();
                let type_name = book.r#type().as_str_name();
                Ok(Some(
                    type_name
                        .strip_prefix("DEPLOYMENT_TYPE_")
                        .unwrap_or(type_name)
                        .to_ascii_lowercase(),
                ))
            }
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                Ok(None)
            }
            Err(status) => {
                tracing::warn!(book = name, error = %status, "book-runner-svc did not answer about a book");
                Err(DeploymentError::Unavailable("book-runner-svc".to_owned()))
            }
        }
    }
}
