//! Deployment groups: their type, their four books, and field-mask updates.

use chrono::{DateTime, Utc};
use eyrie_platform::violation::FieldViolation;

use super::{DeploymentType, etag_of};
use crate::domain::names::GroupName;

/// Which of a group's four books (the lifecycle's phases).
pub use crate::domain::state::Phase as BookPhase;

/// The four phases of a group's books, in lifecycle order.
pub const BOOK_PHASES: [BookPhase; 4] = [
    BookPhase::Initialize,
    BookPhase::Deploy,
    BookPhase::Pause,
    BookPhase::Drop,
];

/// The group field holding `phase`'s book, e.g. `deploy_book`.
pub fn book_field(phase: BookPhase) -> &'static str {
    match phase {
        BookPhase::Initialize => "initialize_book",
        BookPhase::Deploy => "deploy_book",
        BookPhase::Pause => "pause_book",
        BookPhase::Drop => "drop_book",
    }
}

/// The book of each phase, as resource names (`books/{book}` or `projects/{p}/books/{book}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupBooks {
    /// Initialize book.
    pub initialize: String,
    /// Deploy book.
    pub deploy: String,
    /// Pause book.
    pub pause: String,
    /// Drop book.
    pub drop: String,
}

impl GroupBooks {
    /// The built-in book of `deployment_type` for `phase`: `books/{type}-{phase}`.
    pub fn builtin(deployment_type: DeploymentType, phase: BookPhase) -> String {
        format!("books/{}-{}", deployment_type.as_str(), phase.as_str())
    }

    /// These books, each empty one replaced by the built-in book of `deployment_type`.
    pub fn or_builtin(mut self, deployment_type: DeploymentType) -> Self {
        for phase in BOOK_PHASES {
            let book = self.get_mut(phase);
            if book.is_empty() {
                *book = Self::builtin(deployment_type, phase);
            }
        }
        self
    }

    /// The book of `phase`.
    pub fn get(&self, phase: BookPhase) -> &str {
        match phase {
            BookPhase::Initialize => &self.initialize,
            BookPhase::Deploy => &self.deploy,
            BookPhase::Pause => &self.pause,
            BookPhase::Drop => &self.drop,
        }
    }

    fn get_mut(&mut self, phase: BookPhase) -> &mut String {
        match phase {
            BookPhase::Initialize => &mut self.initialize,
            BookPhase::Deploy => &mut self.deploy,
            BookPhase::Pause => &mut self.pause,
            BookPhase::Drop => &mut self.drop,
        }
    }
}

/// A group of deployments of one type. Name `projects/{project}/groups/{group}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentGroup {
    /// Its name.
    pub name: GroupName,
    /// Human-readable name.
    pub display_name: String,
    /// Type of its deployments; fixed at creation.
    pub deployment_type: DeploymentType,
    /// Book of each phase.
    pub books: GroupBooks,
    /// Counter bumped by every change; the etag is made of it.
    pub revision: i64,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    pub update_time: DateTime<Utc>,
}

impl DeploymentGroup {
    /// The etag clients send back to update the group.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// A group to create; its books are resolved (defaults applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// Its name.
    pub name: GroupName,
    /// Human-readable name.
    pub display_name: String,
    /// Type of its deployments.
    pub deployment_type: DeploymentType,
    /// Book of each phase.
    pub books: GroupBooks,
}

/// A group field an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupField {
    /// `display_name`.
    DisplayName,
    /// `initialize_book`, `deploy_book`, `pause_book` or `drop_book`.
    Book(BookPhase),
}

impl GroupField {
    /// Reads one path of `update_mask`.
    pub fn parse(path: &str) -> Result<Self, FieldViolation> {
        if path == "display_name" {
            return Ok(Self::DisplayName);
        }
        if let Some(phase) = BOOK_PHASES.into_iter().find(|p| book_field(*p) == path) {
            return Ok(Self::Book(phase));
        }
        let why = match path {
            "type" => "type is fixed at creation and cannot be changed".to_owned(),
            "name" | "slug" | "etag" | "create_time" | "update_time" => {
                format!("{path} is output only")
            }
            _ => format!(
                "unknown field {path:?}: use display_name, initialize_book, deploy_book, pause_book or drop_book"
            ),
        };
        Err(FieldViolation::new("update_mask", why))
    }
}

/// A field-mask update of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupUpdate {
    /// The group to change.
    pub name: GroupName,
    /// The etag the caller read, when sent.
    pub etag: Option<String>,
    /// The fields to change (the mask), without duplicates.
    pub fields: Vec<GroupField>,
    /// New display name (read when in the mask).
    pub display_name: String,
    /// New books (read when in the mask); an empty one means the built-in default.
    pub books: GroupBooks,
}

impl GroupUpdate {
    /// `current` with the masked fields replaced; revision and times unchanged.
    pub fn apply(&self, current: &DeploymentGroup) -> DeploymentGroup {
        let mut next = current.clone();
        for field in &self.fields {
            match field {
                GroupField::DisplayName => next.display_name.clone_from(&self.display_name),
                GroupField::Book(phase) => {
                    let wanted = self.books.get(*phase);
                    *next.books.get_mut(*phase) = if wanted.is_empty() {
                        GroupBooks::builtin(current.deployment_type, *phase)
                    } else {
                        wanted.to_owned()
                    };
                }
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> DeploymentGroup {
        let now = Utc::now();
        DeploymentGroup {
            name: GroupName::parse("n", "projects/acme/groups/web").unwrap(),
            display_name: "Web".into(),
            deployment_type: DeploymentType::Odoo,
            books: GroupBooks::default().or_builtin(DeploymentType::Odoo),
            revision: 1,
            create_time: now,
            update_time: now,
        }
    }

    #[test]
    fn empty_books_default_to_the_builtin_ones_of_the_type() {
        let books = GroupBooks {
            deploy: "projects/acme/books/custom".into(),
            ..GroupBooks::default()
        }
        .or_builtin(DeploymentType::Pgo);
        assert_eq!(books.initialize, "books/pgo-initialize");
        assert_eq!(books.deploy, "projects/acme/books/custom");
        assert_eq!(books.pause, "books/pgo-pause");
        assert_eq!(books.drop, "books/pgo-drop");
    }

    #[test]
    fn masks_refuse_type_output_only_and_unknown_fields() {
        assert_eq!(
            GroupField::parse("pause_book").unwrap(),
            GroupField::Book(BookPhase::Pause)
        );
        assert!(
            GroupField::parse("type")
                .unwrap_err()
                .description
                .contains("fixed")
        );
        assert!(
            GroupField::parse("etag")
                .unwrap_err()
                .description
                .contains("output only")
        );
        assert_eq!(GroupField::parse("color").unwrap_err().field, "update_mask");
    }

    #[test]
    fn updates_touch_only_masked_fields_and_reset_empty_books() {
        let mut current = group();
        current.books.deploy = "projects/acme/books/custom".into();
        let update = GroupUpdate {
            name: current.name.clone(),
            etag: None,
            fields: vec![GroupField::Book(BookPhase::Deploy), GroupField::DisplayName],
            display_name: "Web shop".into(),
            books: GroupBooks {
                pause: "books/ignored".into(),
                ..GroupBooks::default()
            },
        };
        let next = update.apply(&current);
        assert_eq!(next.display_name, "Web shop");
        assert_eq!(next.books.deploy, "books/odoo-deploy");
        assert_eq!(next.books.pause, "books/odoo-pause");
        assert_eq!(next.revision, current.revision);
    }
}
