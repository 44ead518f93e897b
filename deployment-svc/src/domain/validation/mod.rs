//! Checks of what users write, each refusal naming its request field. Pure functions: no
//! storage, no transport.

mod git;
mod image;

pub use eyrie_platform::names::validate_request_id;
use eyrie_platform::violation::FieldViolation;

pub use eyrie_platform::names::validate_slug;
pub use git::{branch_problem, repository_problem};
pub use image::{ImageReference, parse_image};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 200;
/// Longest commit ref, in characters.
pub const MAX_COMMIT_REF_LEN: usize = 256;
/// Longest parameter key, in characters.
pub const MAX_PARAMETER_KEY_LEN: usize = 128;
/// Longest file system path, in bytes.
const MAX_PATH_LEN: usize = 4096;

/// A required human-readable name of at most 200 characters, without control characters.
pub fn validate_display_name(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.trim().is_empty() {
        Err(FieldViolation::new(field, "is required"))
    } else if value.chars().count() > MAX_DISPLAY_NAME_LEN {
        Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_DISPLAY_NAME_LEN} characters"),
        ))
    } else if value.chars().any(char::is_control) {
        Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// A valid OCI image reference (see [`parse_image`]).
pub fn validate_image(field: &str, value: &str) -> Result<(), FieldViolation> {
    parse_image(value).map(|_| ()).map_err(|why| {
        FieldViolation::new(
            field,
            format!("{value:?} is not a valid OCI image reference: {why}"),
        )
    })
}

/// A valid git branch name (see [`branch_problem`]).
pub fn validate_branch(field: &str, value: &str) -> Result<(), FieldViolation> {
    match branch_problem(value) {
        None => Ok(()),
        Some(why) => Err(FieldViolation::new(
            field,
            format!("{value:?} is not a valid git branch name: {why}"),
        )),
    }
}

/// A repository URL or `git@host:path` (see [`repository_problem`]).
pub fn validate_repository(field: &str, value: &str) -> Result<(), FieldViolation> {
    match repository_problem(value) {
        None => Ok(()),
        Some(why) => Err(FieldViolation::new(
            field,
            format!("{value:?} is not a valid repository: {why}"),
        )),
    }
}

/// Free text of at most 256 characters without control characters; may be empty.
pub fn validate_commit_ref(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.chars().count() > MAX_COMMIT_REF_LEN {
        Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_COMMIT_REF_LEN} characters"),
        ))
    } else if value.chars().any(char::is_control) {
        Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// A parameter key: an identifier, `[A-Za-z_][A-Za-z0-9_]*`, as templates read
/// `deployment.parameters.<key>`.
pub fn validate_parameter_key(field: &str, key: &str) -> Result<(), FieldViolation> {
    let mut bytes = key.bytes();
    let identifier = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if identifier && key.len() <= MAX_PARAMETER_KEY_LEN {
        Ok(())
    } else {
        Err(FieldViolation::new(
            field,
            format!(
                "key {key:?} must be an identifier ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_PARAMETER_KEY_LEN} characters)"
            ),
        ))
    }
}

/// An absolute path on the book-runner's host.
pub fn validate_absolute_path(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.is_empty() {
        Err(FieldViolation::new(field, "is required"))
    } else if !value.starts_with('/') {
        Err(FieldViolation::new(
            field,
            format!("{value:?} must be an absolute path"),
        ))
    } else if value.len() > MAX_PATH_LEN || value.chars().any(char::is_control) {
        Err(FieldViolation::new(
            field,
            format!("must be at most {MAX_PATH_LEN} bytes without control characters"),
        ))
    } else {
        Ok(())
    }
}

/// A book reference of a group of project `project`: `books/{book}` (global) or
/// `projects/{project}/books/{book}` (the group's own project).
pub fn validate_book_reference(
    field: &str,
    value: &str,
    project: &str,
) -> Result<(), FieldViolation> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        ["books", book] => validate_slug(field, book),
        ["projects", owner, "books", book] if *owner == project => validate_slug(field, book),
        ["projects", owner, "books", _] => Err(FieldViolation::new(
            field,
            format!(
                "{value:?} is a book of project {owner:?}; a group may use global books and those of its own project {project:?}"
            ),
        )),
        _ => Err(FieldViolation::new(
            field,
            format!(
                "{value:?} is not a book name of the form books/{{book}} or projects/{{project}}/books/{{book}}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_their_field() {
        assert_eq!(
            validate_image("deployment.image", "Odoo")
                .unwrap_err()
                .field,
            "deployment.image"
        );
        assert_eq!(
            validate_branch("deployment.branch", "a..b")
                .unwrap_err()
                .field,
            "deployment.branch"
        );
        assert_eq!(
            validate_repository("deployment.repository", "nope")
                .unwrap_err()
                .field,
            "deployment.repository"
        );
        assert!(validate_image("i", "odoo:17.0").is_ok());
        assert!(validate_branch("b", "main").is_ok());
        assert!(validate_repository("r", "git@github.com:acme/shop.git").is_ok());
    }

    #[test]
    fn display_names_are_required_and_bounded() {
        assert!(validate_display_name("d", "Accounting").is_ok());
        assert!(validate_display_name("d", &"é".repeat(200)).is_ok());
        assert!(validate_display_name("d", "").is_err());
        assert!(validate_display_name("d", "   ").is_err());
        assert!(validate_display_name("d", &"x".repeat(201)).is_err());
        assert!(validate_display_name("d", "a\nb").is_err());
    }

    #[test]
    fn parameter_keys_are_identifiers() {
        for good in ["db_host", "_x", "A1", "workers"] {
            assert!(validate_parameter_key("p", good).is_ok(), "{good}");
        }
        for bad in ["", "1x", "db-host", "db.host", "é", &"k".repeat(129)] {
            assert!(validate_parameter_key("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_request_ids_and_commit_refs() {
        assert!(validate_absolute_path("p", "/etc/kube/config").is_ok());
        assert!(validate_absolute_path("p", "kube/config").is_err());
        assert!(validate_absolute_path("p", "").is_err());
        assert!(validate_request_id("r", "").is_ok());
        assert!(validate_request_id("r", "0192a7e4-8f1c-7cc0-9d0a-3b7c5e2f9a11").is_ok());
        assert!(validate_request_id("r", &"x".repeat(65)).is_err());
        assert!(validate_request_id("r", "a b").is_err());
        assert!(validate_commit_ref("c", "").is_ok());
        assert!(validate_commit_ref("c", "4f2a9c1 (hotfix)").is_ok());
        assert!(validate_commit_ref("c", "a\u{0}").is_err());
    }

    #[test]
    fn book_references_are_global_or_of_the_groups_project() {
        assert!(validate_book_reference("b", "books/odoo-deploy", "acme").is_ok());
        assert!(validate_book_reference("b", "projects/acme/books/custom", "acme").is_ok());
        let foreign = validate_book_reference("b", "projects/other/books/x", "acme").unwrap_err();
        assert!(foreign.description.contains("own project"));
        for bad in ["", "books/", "books/Odoo", "book/x", "projects/acme/books"] {
            assert!(validate_book_reference("b", bad, "acme").is_err(), "{bad}");
        }
    }
}
