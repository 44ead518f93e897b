//! BookService requests read into the use cases' inputs, every malformed field named.

use eyrie_platform::{
    names::{DeploymentName, validate_slug},
    status::FieldViolation,
};
use eyrie_proto::v1::{
    self as pb, CreateBookRequest, RenderBookRequest, UpdateBookRequest, create_book_request,
    render_book_request,
};

use crate::{
    domain::{
        book::BookSpec,
        books::{BookError, BookName, BookUpdate},
    },
    grpc::convert::{
        book::{action_name, mask_fields, optional_name, source_format, spec_from_proto},
        snapshot::snapshot_from_proto,
    },
    service::books::{BookRef, RenderTarget},
};

/// What CreateBook asks for.
pub struct Create {
    /// Where the book goes.
    pub name: BookName,
    /// Its content, named `name.id`.
    pub spec: BookSpec,
    /// The idempotency key, if any.
    pub request_id: Option<String>,
}

/// Keeps the value of a check and files its violation.
fn keep<T>(violations: &mut Vec<FieldViolation>, checked: Result<T, FieldViolation>) -> Option<T> {
    checked.map_err(|violation| violations.push(violation)).ok()
}

/// Refuses with every violation, or goes on with `value`.
fn settle<T>(violations: Vec<FieldViolation>, value: Option<T>) -> Result<T, BookError> {
    match value {
        Some(value) if violations.is_empty() => Ok(value),
        _ => Err(BookError::Invalid(violations)),
    }
}

/// Reads a book text held by request field `field`; the `name` it may hold must be `id`.
pub fn read_source(field: &str, source: &pb::BookSource, id: &str) -> Result<BookSpec, BookError> {
    let format = source_format(field, source).map_err(BookError::Invalid)?;
    let spec = BookSpec::parse(format, &source.text).map_err(|err| {
        BookError::Invalid(vec![FieldViolation::new(
            field,
            format!("does not parse: {err}"),
        )])
    })?;
    if !spec.name.is_empty() && spec.name != id {
        return Err(BookError::Invalid(vec![FieldViolation::new(
            field,
            format!(
                "names the book {:?}, but the request is about {id:?}: leave `name` out or make them equal",
                spec.name
            ),
        )]));
    }
    Ok(spec)
}

/// Reads a structured book, refusing it when it holds a value of the wrong shape.
fn read_book(book: pb::Book, id: String) -> Result<BookSpec, BookError> {
    let (spec, problems) = spec_from_proto(book, id);
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(BookError::InvalidBook(problems))
    }
}

/// Reads CreateBook.
pub fn create(request: CreateBookRequest) -> Result<Create, BookError> {
    let mut violations = Vec::new();
    let project = keep(
        &mut violations,
        BookName::parse_parent("parent", &request.parent),
    );
    let id = keep(
        &mut violations,
        validate_slug("book_id", &request.book_id).map(|()| request.book_id.clone()),
    );
    if request.content.is_none() {
        violations.push(FieldViolation::new(
            "content",
            "is required: book or source",
        ));
    }
    let (Some(project), Some(id), Some(content)) = (project, id, request.content) else {
        return Err(BookError::Invalid(violations));
    };
    let spec = match content {
        create_book_request::Content::Book(book) => read_book(book, id.clone())?,
        create_book_request::Content::Source(source) => read_source("source", &source, &id)?,
    };
    Ok(Create {
        name: BookName { project, id },
        spec,
        request_id: Some(request.request_id).filter(|key| !key.is_empty()),
    })
}

/// Reads UpdateBook.
pub fn update(request: UpdateBookRequest) -> Result<(BookName, BookUpdate), BookError> {
    let mut violations = Vec::new();
    let fields = keep(&mut violations, mask_fields(request.update_mask));
    let Some(book) = request.book else {
        violations.push(FieldViolation::new(
            "book",
            "is required, with at least its name",
        ));
        return Err(BookError::Invalid(violations));
    };
    let name = keep(&mut violations, BookName::parse("book.name", &book.name));
    let (name, fields) = settle(violations, name.zip(fields))?;
    let etag = Some(book.etag.clone()).filter(|etag| !etag.is_empty());
    let values = match &request.source {
        Some(source) => read_source("source", source, &name.id)?,
        None => read_book(book, name.id.clone())?,
    };
    Ok((
        name,
        BookUpdate {
            etag,
            values,
            fields,
        },
    ))
}

/// Reads RenderBook.
pub fn render(
    request: RenderBookRequest,
) -> Result<(BookRef, RenderTarget, Option<&'static str>), BookError> {
    let mut violations = Vec::new();
    let mut problems = Vec::new();
    let action = keep(&mut violations, action_name("action", request.action));
    let book = match request.book_ref {
        None => {
            violations.push(FieldViolation::new("book_ref", "is required: name or book"));
            None
        }
        Some(render_book_request::BookRef::Name(name)) => {
            keep(&mut violations, BookName::parse("name", &name)).map(BookRef::Stored)
        }
        Some(render_book_request::BookRef::Book(book)) => {
            keep(&mut violations, optional_name("book.name", &book.name)).map(|name| {
                let (spec, found) =
                    spec_from_proto(book, name.map(|name| name.id).unwrap_or_default());
                problems = found;
                BookRef::Inline(spec)
            })
        }
    };
    let target = match request.target {
        None => {
            violations.push(FieldViolation::new(
                "target",
                "is required: deployment or snapshot",
            ));
            None
        }
        Some(render_book_request::Target::Deployment(deployment)) => keep(
            &mut violations,
            DeploymentName::parse("deployment", &deployment),
        )
        .map(RenderTarget::Deployment),
        Some(render_book_request::Target::Snapshot(snapshot)) => {
            match snapshot_from_proto("snapshot", snapshot) {
                Ok(snapshot) => Some(RenderTarget::Snapshot(Box::new(snapshot))),
                Err(found) => {
                    violations.extend(found);
                    None
                }
            }
        }
    };
    let (book, target) = settle(violations, book.zip(target))?;
    if !problems.is_empty() {
        return Err(BookError::InvalidBook(problems));
    }
    Ok((book, target, action.flatten()))
}
