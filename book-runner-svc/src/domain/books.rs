//! Stored books: their names, metadata, queries, updates and the errors of the book use cases.

use std::fmt;

use chrono::{DateTime, Utc};
use eyrie_platform::{names::validate_slug, peer_status::PeerFailure, violation::FieldViolation};

use super::{
    book::{BookSpec, DeploymentType},
    error::StoreError,
    render::RenderError,
    validate::BookViolation,
};

/// The resource name of a book: `books/{id}` (global) or `projects/{project}/books/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookName {
    /// Project slug; `None` for a global book.
    pub project: Option<String>,
    /// Book id, a DNS-1123 label.
    pub id: String,
}

const BOOK_PATTERN: &str = "books/{book} or projects/{project}/books/{book}";

impl BookName {
    /// A global book, `books/{id}`.
    pub fn global(id: impl Into<String>) -> Self {
        Self {
            project: None,
            id: id.into(),
        }
    }

    /// Parses the book name held by request field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
        let malformed = || {
            FieldViolation::new(
                field,
                format!("{value:?} is not a book name of the form {BOOK_PATTERN}"),
            )
        };
        if value.is_empty() {
            return Err(FieldViolation::new(
                field,
                format!("is required, as {BOOK_PATTERN}"),
            ));
        }
        let parts: Vec<&str> = value.split('/').collect();
        let (project, id) = match parts.as_slice() {
            ["books", id] => (None, *id),
            ["projects", project, "books", id] => {
                validate_slug(field, project)?;
                (Some((*project).to_owned()), *id)
            }
            _ => return Err(malformed()),
        };
        validate_slug(field, id)?;
        Ok(Self {
            project,
            id: id.to_owned(),
        })
    }

    /// Parses a parent: empty for the global books, or `projects/{project}`.
    pub fn parse_parent(field: &str, value: &str) -> Result<Option<String>, FieldViolation> {
        if value.is_empty() {
            return Ok(None);
        }
        match value.split('/').collect::<Vec<_>>().as_slice() {
            ["projects", project] => {
                validate_slug(field, project)?;
                Ok(Some((*project).to_owned()))
            }
            _ => Err(FieldViolation::new(
                field,
                format!("{value:?} is neither empty (global books) nor projects/{{project}}"),
            )),
        }
    }
}

impl fmt::Display for BookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.project {
            Some(project) => write!(f, "projects/{project}/books/{}", self.id),
            None => write!(f, "books/{}", self.id),
        }
    }
}

/// A book as stored: its content and what the store keeps about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBook {
    /// Resource name, `books/{id}` or `projects/{project}/books/{id}`.
    pub name: String,
    /// Project slug; `None` for a global book.
    pub project: Option<String>,
    /// The content; `spec.name` is the id.
    pub spec: BookSpec,
    /// Shipped with Eyrie; read-only to the API.
    pub builtin: bool,
    /// Counter bumped by every change; the etag is made of it.
    pub revision: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredBook {
    /// The etag clients send back to update the book: `r{revision}`, unquoted (e.g. `r3`).
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// The etag of a revision, `r{revision}`.
pub fn etag_of(revision: i64) -> String {
    format!("r{revision}")
}

/// The revision an etag stands for; `None` for a text no etag of ours looks like. Surrounding
/// double quotes (HTTP style) are accepted.
pub fn revision_of_etag(etag: &str) -> Option<i64> {
    let bare = etag.trim().trim_matches('"');
    bare.strip_prefix('r')?.parse().ok()
}

/// A book to create (never a built-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBook {
    /// Its resource name; `name.id` equals `spec.name`.
    pub name: BookName,
    /// Its content.
    pub spec: BookSpec,
}

/// Which books to list, and where the page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookQuery {
    /// The project's books; `None` for the global books.
    pub project: Option<String>,
    /// With a project, also the global books, after the project's own.
    pub include_global: bool,
    /// Only books of this type.
    pub deployment_type: Option<DeploymentType>,
    /// Resource name of the last book of the previous page; the page starts after it in list
    /// order (project books by name, then global books by name).
    pub after_name: Option<String>,
    /// Most books to return.
    pub limit: u64,
}

/// One page of books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPage {
    /// The books, in list order.
    pub books: Vec<StoredBook>,
    /// Resource name to continue after, when another page follows.
    pub next_after: Option<String>,
}

/// A field of a book that UpdateBook may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookField {
    /// `display_name`.
    DisplayName,
    /// `description`.
    Description,
    /// `parameters`.
    Parameters,
    /// `steps`.
    Steps,
}

impl BookField {
    /// Every replaceable field.
    pub const ALL: [Self; 4] = [
        Self::DisplayName,
        Self::Description,
        Self::Parameters,
        Self::Steps,
    ];

    /// The field's name in masks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::Description => "description",
            Self::Parameters => "parameters",
            Self::Steps => "steps",
        }
    }

    /// Reads a mask path.
    pub fn parse(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.as_str() == path)
    }
}

/// A change of a stored book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookUpdate {
    /// The etag the client read; `None` to skip the check.
    pub etag: Option<String>,
    /// The new values; `deployment_type` empty means unchanged, `name` is ignored.
    pub values: BookSpec,
    /// The fields to replace; empty means all of them.
    pub fields: Vec<BookField>,
}

impl BookUpdate {
    /// The content after this change of `current`. A type different from the current one is
    /// refused: the groups using the book rely on it.
    pub fn apply(&self, current: &BookSpec) -> Result<BookSpec, BookError> {
        let values = &self.values;
        if !values.deployment_type.is_empty() && values.deployment_type != current.deployment_type {
            return Err(type_change(
                &current.deployment_type,
                &values.deployment_type,
            ));
        }
        let fields: &[BookField] = if self.fields.is_empty() {
            &BookField::ALL
        } else {
            &self.fields
        };
        let mut next = current.clone();
        for field in fields {
            match field {
                BookField::DisplayName => next.display_name.clone_from(&values.display_name),
                BookField::Description => next.description.clone_from(&values.description),
                BookField::Parameters => next.parameters.clone_from(&values.parameters),
                BookField::Steps => next.steps.clone_from(&values.steps),
            }
        }
        Ok(next)
    }
}

/// The refusal of a change of type.
pub fn type_change(current: &str, wanted: &str) -> BookError {
    BookError::Invalid(vec![FieldViolation::new(
        "book.type",
        format!("the type of a book never changes (it is {current:?}, not {wanted:?})"),
    )])
}

/// The path of a violation in a book, e.g. `steps[2].with.manifest` or `parameters[1].name`.
pub fn violation_path(violation: &BookViolation) -> String {
    match violation.step_index {
        Some(index) => format!("steps[{index}].{}", violation.field),
        None => violation.field.clone(),
    }
}

/// Why a book use case failed.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The request is malformed.
    #[error("{}", join(.0))]
    Invalid(Vec<FieldViolation>),
    /// The book has problems (see ValidateBook).
    #[error("invalid book: {}", join(.0))]
    InvalidBook(Vec<BookViolation>),
    /// No book has this name.
    #[error("book {0:?} not found")]
    NotFound(String),
    /// A book already has this name.
    #[error("book {0:?} already exists")]
    AlreadyExists(String),
    /// Built-in books are read-only.
    #[error("book {0:?} is built in and cannot be changed: create a copy instead")]
    BuiltinReadOnly(String),
    /// The book changed since the client read it.
    #[error("book {name:?} changed since it was read: its etag is {actual}, not {expected}")]
    EtagMismatch {
        /// The book.
        name: String,
        /// The etag the client sent.
        expected: String,
        /// The current etag.
        actual: String,
    },
    /// The book cannot be rendered for this target.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// deployment-svc did not give the deployment.
    #[error("deployment-svc: {message}")]
    Upstream {
        /// What kind of failure, passed on to the caller.
        failure: PeerFailure,
        /// deployment-svc's message.
        message: String,
    },
    /// No deployment-svc address is configured, so deployments cannot be read.
    #[error(
        "deployment-svc is not configured, so deployments cannot be read: render for an inline snapshot instead"
    )]
    DeploymentsNotConfigured,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::book::BookFormat;

    #[test]
    fn names_parse_and_print() {
        for text in ["books/odoo-deploy", "projects/acme/books/shop"] {
            assert_eq!(BookName::parse("name", text).unwrap().to_string(), text);
        }
        assert_eq!(
            BookName::parse("name", "projects/acme/books/shop")
                .unwrap()
                .project
                .as_deref(),
            Some("acme")
        );
        for bad in [
            "",
            "books",
            "books/Shop",
            "book/shop",
            "projects/acme/shop",
            "/books/a",
        ] {
            assert_eq!(BookName::parse("name", bad).unwrap_err().field, "name");
        }
        assert_eq!(BookName::parse_parent("parent", "").unwrap(), None);
        assert_eq!(
            BookName::parse_parent("parent", "projects/acme").unwrap(),
            Some("acme".to_owned())
        );
        assert!(BookName::parse_parent("parent", "projects/acme/books").is_err());
    }

    #[test]
    fn etags_round_trip_quoted_or_not() {
        assert_eq!(revision_of_etag(&etag_of(7)), Some(7));
        assert_eq!(revision_of_etag("\"r7\""), Some(7));
        assert_eq!(revision_of_etag("7"), None);
    }

    #[test]
    fn updates_replace_the_masked_fields_and_never_the_type() {
        let current = BookSpec::parse(
            BookFormat::Yaml,
            "name: a\ntype: none\ndisplay_name: A\ndescription: old\nsteps: []\n",
        )
        .unwrap();
        let mut values = current.clone();
        values.display_name = "B".into();
        values.description = "new".into();
        values.deployment_type = String::new();
        let update = BookUpdate {
            etag: None,
            values: values.clone(),
            fields: vec![BookField::Description],
        };
        let next = update.apply(&current).unwrap();
        assert_eq!(
            (next.display_name.as_str(), next.description.as_str()),
            ("A", "new")
        );

        values.deployment_type = "odoo".into();
        let update = BookUpdate {
            etag: None,
            values,
            fields: vec![],
        };
        let Err(BookError::Invalid(violations)) = update.apply(&current) else {
            panic!("a type change must be refused");
        };
        assert_eq!(violations[0].field, "book.type");
    }
}
