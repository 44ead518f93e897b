//! The built-in books shipped with Eyrie: one per deployment type and phase, compiled in from
//! `books/{type}-{phase}.yaml` and stored at start as `books/{type}-{phase}`.

use super::book::{BookFormat, BookSpec, DeploymentType, Phase};

/// Every built-in book's file stem and YAML text.
const BUILTIN_BOOKS: [(&str, &str); 16] = [
    (
        "odoo-initialize",
        include_str!("../../books/odoo-initialize.yaml"),
    ),
    ("odoo-deploy", include_str!("../../books/odoo-deploy.yaml")),
    ("odoo-pause", include_str!("../../books/odoo-pause.yaml")),
    ("odoo-drop", include_str!("../../books/odoo-drop.yaml")),
    (
        "pgo-initialize",
        include_str!("../../books/pgo-initialize.yaml"),
    ),
    ("pgo-deploy", include_str!("../../books/pgo-deploy.yaml")),
    ("pgo-pause", include_str!("../../books/pgo-pause.yaml")),
    ("pgo-drop", include_str!("../../books/pgo-drop.yaml")),
    (
        "pxc-initialize",
        include_str!("../../books/pxc-initialize.yaml"),
    ),
    ("pxc-deploy", include_str!("../../books/pxc-deploy.yaml")),
    ("pxc-pause", include_str!("../../books/pxc-pause.yaml")),
    ("pxc-drop", include_str!("../../books/pxc-drop.yaml")),
    (
        "none-initialize",
        include_str!("../../books/none-initialize.yaml"),
    ),
    ("none-deploy", include_str!("../../books/none-deploy.yaml")),
    ("none-pause", include_str!("../../books/none-pause.yaml")),
    ("none-drop", include_str!("../../books/none-drop.yaml")),
];

/// The built-in books, parsed. Their texts are compiled in and checked by this module's tests
/// (each parses, validates and renders), so a failure here is a build defect.
pub fn builtin_books() -> Vec<BookSpec> {
    BUILTIN_BOOKS
        .iter()
        .map(|(file, text)| {
            BookSpec::parse(BookFormat::Yaml, text).unwrap_or_else(|err| {
                panic!("built-in book books/{file}.yaml does not parse: {err}")
            })
        })
        .collect()
}

/// The resource name of the built-in book of a type and phase, `books/{type}-{phase}`.
pub fn builtin_book_name(deployment_type: DeploymentType, phase: Phase) -> String {
    format!("books/{}-{}", deployment_type.as_str(), phase.as_str())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile_values;
