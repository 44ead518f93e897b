//! The book catalog over book-runner-svc's BookService, remembering each book it read for a
//! short while: a Deploy checks its books' required parameters against what deployment-svc
//! already knows, without a call to the runner before its transaction (issue 19).
//!
//! A book changed within [`REMEMBERED`] may be judged by its previous form; the runner checks
//! the parameters again when it starts the job, and refuses it naming what is missing, which
//! ends the operation with that reason.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use eyrie_platform::{grpc::TracedChannel, peer_status::PeerFailure};
use eyrie_proto::v1::{GetBookRequest, book_service_client::BookServiceClient};

use crate::{
    domain::DeploymentError,
    domain::requirements::{CatalogBook, RequiredParameter},
    service::peers::BookCatalog,
};

/// How long a book read is trusted.
const REMEMBERED: Duration = Duration::from_secs(30);

/// Asks book-runner-svc (`peers` configuration) about the books groups name.
#[derive(Debug)]
pub struct RemoteBookCatalog {
    client: BookServiceClient<TracedChannel>,
    /// Books read, by name, with when. Books that do not exist are not remembered: one may be
    /// created at any moment.
    read: Mutex<HashMap<String, (Instant, CatalogBook)>>,
}

impl RemoteBookCatalog {
    /// Uses `client`.
    pub fn new(client: BookServiceClient<TracedChannel>) -> Self {
        Self {
            client,
            read: Mutex::new(HashMap::new()),
        }
    }

    fn remembered(&self, name: &str) -> Option<CatalogBook> {
        let read = self
            .read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read.get(name)
            .filter(|(when, _)| when.elapsed() < REMEMBERED)
            .map(|(_, book)| book.clone())
    }
}

#[async_trait::async_trait]
impl BookCatalog for RemoteBookCatalog {
    async fn book(&self, name: &str) -> Result<Option<CatalogBook>, DeploymentError> {
        if let Some(book) = self.remembered(name) {
            return Ok(Some(book));
        }
        let answer = self
            .client
            .clone()
            .get_book(GetBookRequest {
                name: name.to_owned(),
            })
            .await;
        let book = match answer {
            Ok(book) => book.into_inner(),
            // A name that is no book's, or cannot be one: there is no such book.
            Err(status)
                if matches!(
                    PeerFailure::of(status.code()),
                    PeerFailure::NotFound | PeerFailure::Invalid
                ) =>
            {
                return Ok(None);
            }
            Err(status) => {
                tracing::warn!(book = name, error = %status, "book-runner-svc did not answer about a book");
                return Err(DeploymentError::Unavailable("book-runner-svc".to_owned()));
            }
        };
        let type_name = book.r#type().as_str_name();
        let found = CatalogBook {
            deployment_type: type_name
                .strip_prefix("DEPLOYMENT_TYPE_")
                .unwrap_or(type_name)
                .to_ascii_lowercase(),
            required: book
                .parameters
                .into_iter()
                .filter(|parameter| parameter.required)
                .map(|parameter| RequiredParameter {
                    name: parameter.name,
                    description: parameter.description,
                })
                .collect(),
        };
        self.read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), (Instant::now(), found.clone()));
        Ok(Some(found))
    }
}
