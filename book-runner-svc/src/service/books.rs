//! The book use cases: create, read, list, update, validate, render and export books.

use std::sync::Arc;

use eyrie_platform::{grpc::TracedChannel, names::DeploymentName, peer_status::PeerFailure};
use eyrie_proto::internal::v1::{
    GetDeploymentSnapshotRequest, deployment_callbacks_client::DeploymentCallbacksClient,
};

use crate::{
    domain::{
        book::{BookFormat, BookSpec},
        books::{
            BookError, BookName, BookPage, BookQuery, BookUpdate, NewBook, StoredBook,
            revision_of_etag,
        },
        render::{RenderError, RenderedStep, render_preview},
        snapshot::Snapshot,
        template::Templates,
        validate::{BookViolation, validate},
    },
    grpc::convert::snapshot::snapshot_from_proto,
    service::off_thread::{RENDER_TIME_LIMIT, render_off_thread},
    store::books::SeaBookStore,
};

/// Id given to a book without one while it is validated, so that only real problems show.
const UNNAMED: &str = "unnamed";

/// How many times an update without etag is tried again when a concurrent update wins.
const UPDATE_ATTEMPTS: usize = 3;

/// The book to render.
#[derive(Debug, Clone)]
pub enum BookRef {
    /// A stored book.
    Stored(BookName),
    /// A book sent with the request (validated first).
    Inline(BookSpec),
}

/// What to render a book for.
#[derive(Debug, Clone)]
pub enum RenderTarget {
    /// A deployment, whose current snapshot deployment-svc provides.
    Deployment(DeploymentName),
    /// A snapshot sent with the request.
    Snapshot(Box<Snapshot>),
}

/// Writes, reads, checks and dry-runs books.
#[derive(Debug, Clone)]
pub struct Books {
    store: SeaBookStore,
    templates: Arc<Templates>,
    deployments: Option<DeploymentCallbacksClient<TracedChannel>>,
}

impl Books {
    /// Serves the books of `store`, rendering with `templates`; `deployments` (when configured)
    /// provides the snapshots of deployments that RenderBook is asked about by name.
    pub fn new(
        store: SeaBookStore,
        templates: Arc<Templates>,
        deployments: Option<DeploymentCallbacksClient<TracedChannel>>,
    ) -> Self {
        Self {
            store,
            templates,
            deployments,
        }
    }

    /// Every problem of `spec`, in book order. A book without id is checked as if it had one.
    /// Its templates render off the async threads, within [`RENDER_TIME_LIMIT`].
    pub async fn validate(&self, spec: &BookSpec) -> Vec<BookViolation> {
        let mut named = spec.clone();
        if named.name.is_empty() {
            named.name = UNNAMED.to_owned();
        }
        let templates = self.templates.clone();
        render_off_thread(move || validate(&named, &templates))
            .await
            .unwrap_or_else(|| {
                vec![BookViolation {
                    step_index: None,
                    step_name: String::new(),
                    field: "steps".to_owned(),
                    description: format!(
                        "the templates took longer than {}s to render",
                        RENDER_TIME_LIMIT.as_secs()
                    ),
                }]
            })
    }

    /// Refuses `spec` with every problem it has, if any.
    pub async fn check(&self, spec: &BookSpec) -> Result<(), BookError> {
        let violations = self.validate(spec).await;
        if violations.is_empty() {
            Ok(())
        } else {
            Err(BookError::InvalidBook(violations))
        }
    }

    /// Creates the book `name` with content `spec` (whose `name` becomes the id). With a request
    /// id, a retry that finds the very same content already stored gets that book back.
    pub async fn create(
        &self,
        name: BookName,
        mut spec: BookSpec,
        request_id: Option<&str>,
    ) -> Result<StoredBook, BookError> {
        spec.name.clone_from(&name.id);
        self.check(&spec).await?;
        let new = NewBook { name, spec };
        match self.store.create(&new).await {
            Err(BookError::AlreadyExists(existing)) if request_id.is_some() => {
                match self.store.get(&existing).await? {
                    Some(stored) if !stored.builtin && stored.spec == new.spec => Ok(stored),
                    _ => Err(BookError::AlreadyExists(existing)),
                }
            }
            outcome => outcome,
        }
    }

    /// The book `name`.
    pub async fn get(&self, name: &BookName) -> Result<StoredBook, BookError> {
        let name = name.to_string();
        self.store
            .get(&name)
            .await?
            .ok_or(BookError::NotFound(name))
    }

    /// A page of books (see [`BookQuery`]).
    pub async fn list(&self, query: &BookQuery) -> Result<BookPage, BookError> {
        // One extra row tells whether another page follows, without a count query.
        let limit = query.limit;
        let mut books = self
            .store
            .list(&BookQuery {
                limit: limit + 1,
                ..query.clone()
            })
            .await?;
        let next_after = if books.len() as u64 > limit {
            books.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            books.last().map(|last| last.name.clone())
        } else {
            None
        };
        Ok(BookPage { books, next_after })
    }

    /// Applies `update` to the book `name` and validates the result. Without etag, a concurrent
    /// change is merged with by trying again on the new content.
    pub async fn update(
        &self,
        name: &BookName,
        update: &BookUpdate,
    ) -> Result<StoredBook, BookError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.get(name).await?;
            if current.builtin {
                return Err(BookError::BuiltinReadOnly(current.name));
            }
            let expected = match &update.etag {
                Some(etag) => revision_of_etag(etag)
                    .filter(|revision| *revision == current.revision)
                    .ok_or_else(|| BookError::EtagMismatch {
                        name: current.name.clone(),
                        expected: etag.clone(),
                        actual: current.etag(),
                    })?,
                None => current.revision,
            };
            let next = update.apply(&current.spec)?;
            self.check(&next).await?;
            match self.store.update(&current.name, expected, &next).await {
                Err(BookError::EtagMismatch { .. })
                    if update.etag.is_none() && attempt < UPDATE_ATTEMPTS =>
                {
                    continue;
                }
                outcome => return outcome,
            }
        }
    }

    /// Every step of `book` rendered for `target`, secrets redacted, without running anything.
    /// `action` is what templates see as `action`; `None` leaves it undefined.
    pub async fn render(
        &self,
        book: BookRef,
        target: RenderTarget,
        action: Option<&str>,
    ) -> Result<Vec<RenderedStep>, BookError> {
        let spec = match book {
            BookRef::Stored(name) => self.get(&name).await?.spec,
            BookRef::Inline(spec) => {
                self.check(&spec).await?;
                spec
            }
        };
        let snapshot = match target {
            RenderTarget::Snapshot(snapshot) => *snapshot,
            RenderTarget::Deployment(deployment) => self.snapshot_of(&deployment).await?,
        };
        let templates = self.templates.clone();
        let action = action.map(str::to_owned);
        render_off_thread(move || render_preview(&templates, &spec, &snapshot, action.as_deref()))
            .await
            .ok_or(RenderError::TimedOut(RENDER_TIME_LIMIT))?
            .map_err(BookError::from)
    }

    /// The book `name` as text, in the form CreateBook and UpdateBook accept.
    pub async fn export(&self, name: &BookName, format: BookFormat) -> Result<String, BookError> {
        Ok(self.get(name).await?.spec.to_text(format))
    }

    /// The current snapshot of `deployment`, from deployment-svc.
    async fn snapshot_of(&self, deployment: &DeploymentName) -> Result<Snapshot, BookError> {
        let mut client = self
            .deployments
            .clone()
            .ok_or(BookError::DeploymentsNotConfigured)?;
        let snapshot = client
            .get_deployment_snapshot(GetDeploymentSnapshotRequest {
                deployment: deployment.to_string(),
            })
            .await
            .map_err(|status| BookError::Upstream {
                failure: PeerFailure::of(status.code()),
                message: status.message().to_owned(),
            })?
            .into_inner();
        snapshot_from_proto("snapshot", snapshot).map_err(|violations| {
            let described: Vec<String> = violations.iter().map(ToString::to_string).collect();
            tracing::error!(%deployment, problems = %described.join("; "), "deployment-svc sent an incomplete snapshot");
            BookError::Upstream {
                failure: PeerFailure::Fault,
                message: "it sent an incomplete deployment snapshot".to_owned(),
            }
        })
    }
}
