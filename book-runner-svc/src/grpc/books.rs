//! `eyrie.v1.BookService`: thin handlers over [`Books`].

mod requests;
mod status;

use std::sync::Arc;

use eyrie_platform::{
    paging::{decode_for, encode_for, page_size},
    status::FieldViolation,
};
use eyrie_proto::v1::{
    Book, BookSource, CreateBookRequest, ExportBookRequest, GetBookRequest, ListBooksRequest,
    ListBooksResponse, RenderBookRequest, RenderBookResponse, UpdateBookRequest,
    ValidateBookRequest, ValidateBookResponse, book_service_server::BookService,
    validate_book_request,
};
use tonic::{Request, Response, Status};

use super::convert::book::{
    book_format, book_to_proto, deployment_type, format_to_proto, optional_name, source_format,
    spec_from_proto, spec_to_proto, violation_to_proto,
};
use crate::{
    domain::{
        book::BookSpec,
        books::{BookError, BookName, BookQuery},
        validate::BookViolation,
    },
    service::books::Books,
};

/// Serves `eyrie.v1.BookService`.
#[derive(Debug, Clone)]
pub struct BookGrpc {
    books: Arc<Books>,
}

impl BookGrpc {
    /// Serves `books`.
    pub fn new(books: Books) -> Self {
        Self {
            books: Arc::new(books),
        }
    }
}

fn invalid(violation: FieldViolation) -> Status {
    BookError::Invalid(vec![violation]).into()
}

#[tonic::async_trait]
impl BookService for BookGrpc {
    async fn create_book(
        &self,
        request: Request<CreateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let create = requests::create(request.into_inner())?;
        let stored = self
            .books
            .create(create.name, create.spec, create.request_id.as_deref())
            .await?;
        Ok(Response::new(book_to_proto(stored)))
    }

    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        let name = BookName::parse("name", &request.into_inner().name).map_err(invalid)?;
        Ok(Response::new(book_to_proto(self.books.get(&name).await?)))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let request = request.into_inner();
        let project = BookName::parse_parent("parent", &request.parent).map_err(invalid)?;
        let limit = page_size(request.page_size).map_err(invalid)?;
        if eyrie_proto::v1::DeploymentType::try_from(request.r#type).is_err() {
            return Err(invalid(FieldViolation::new(
                "type",
                format!("{} is not a known deployment type", request.r#type),
            )));
        }
        let include_global = request.include_global && project.is_some();
        // A page token belongs to one list: this parent, type and include_global.
        let list = format!(
            "{}?type={}&include_global={include_global}",
            request.parent, request.r#type
        );
        let after_name = decode_for(&list, &request.page_token).map_err(invalid)?;
        let query = BookQuery {
            project,
            include_global,
            deployment_type: deployment_type(request.r#type),
            after_name,
            limit,
        };
        let page = self.books.list(&query).await?;
        let next_page_token = page
            .next_after
            .map(|after| encode_for(&list, after))
            .unwrap_or_default();
        Ok(Response::new(ListBooksResponse {
            books: page.books.into_iter().map(book_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_book(
        &self,
        request: Request<UpdateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let (name, update) = requests::update(request.into_inner())?;
        Ok(Response::new(book_to_proto(
            self.books.update(&name, &update).await?,
        )))
    }

    async fn validate_book(
        &self,
        request: Request<ValidateBookRequest>,
    ) -> Result<Response<ValidateBookResponse>, Status> {
        let (spec, name, mut violations) = match request.into_inner().content {
            None => {
                return Err(invalid(FieldViolation::new(
                    "content",
                    "is required: book or source",
                )));
            }
            Some(validate_book_request::Content::Book(book)) => {
                let name = book.name.clone();
                let (id, mut violations) = match optional_name("name", &name) {
                    Ok(parsed) => (parsed.map(|parsed| parsed.id).unwrap_or_default(), vec![]),
                    Err(violation) => (String::new(), vec![book_violation(violation)]),
                };
                let (spec, problems) = spec_from_proto(book, id);
                violations.extend(problems);
                (Some(spec), name, violations)
            }
            Some(validate_book_request::Content::Source(source)) => {
                let format = source_format("source", &source).map_err(BookError::Invalid)?;
                match BookSpec::parse(format, &source.text) {
                    Ok(spec) => (Some(spec), String::new(), vec![]),
                    Err(err) => (
                        None,
                        String::new(),
                        vec![book_violation(FieldViolation::new("source", err.0))],
                    ),
                }
            }
        };
        if let Some(spec) = &spec {
            violations.extend(self.books.validate(spec).await);
        }
        // Book-level problems first, then the steps in order, as validation reports them.
        violations.sort_by_key(|violation| violation.step_index.map_or(0, |index| index + 1));
        Ok(Response::new(ValidateBookResponse {
            violations: violations.into_iter().map(violation_to_proto).collect(),
            book: spec.map(|spec| spec_to_proto(&spec, name)),
        }))
    }

    async fn render_book(
        &self,
        request: Request<RenderBookRequest>,
    ) -> Result<Response<RenderBookResponse>, Status> {
        let (book, target, action) = requests::render(request.into_inner())?;
        let steps = self.books.render(book, target, action).await?;
        Ok(Response::new(RenderBookResponse {
            steps: steps.into_iter().map(Into::into).collect(),
        }))
    }

    async fn export_book(
        &self,
        request: Request<ExportBookRequest>,
    ) -> Result<Response<BookSource>, Status> {
        let request = request.into_inner();
        let name = BookName::parse("name", &request.name);
        let format = book_format("format", request.format);
        let (name, format) = match (name, format) {
            (Ok(name), Ok(format)) => (name, format),
            (name, format) => {
                let violations = [name.err(), format.err()].into_iter().flatten().collect();
                return Err(BookError::Invalid(violations).into());
            }
        };
        let text = self.books.export(&name, format).await?;
        Ok(Response::new(BookSource {
            format: format_to_proto(format).into(),
            text,
        }))
    }
}

/// A problem of the request's book that is not in a step.
fn book_violation(violation: FieldViolation) -> BookViolation {
    BookViolation {
        step_index: None,
        step_name: String::new(),
        field: violation.field,
        description: violation.description,
    }
}
