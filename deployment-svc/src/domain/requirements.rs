//! What the books of an action require of a deployment: the parameters it lacks, all named at
//! once so that one answer tells the user everything to set.

use std::collections::BTreeMap;

use eyrie_platform::violation::FieldViolation;

/// What deployment-svc needs to know of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogBook {
    /// Its type (`odoo`, `pgo`, ...).
    pub deployment_type: String,
    /// The parameters a deployment must have for it to run, in the book's order.
    pub required: Vec<RequiredParameter>,
}

/// A parameter a book requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredParameter {
    /// Its key.
    pub name: String,
    /// What it means.
    pub description: String,
}

/// One violation per parameter that `books` (name and book, in the action's order) require and
/// `parameters` lack, each naming every book that requires it, in the books' order.
pub fn missing_parameters(
    parameters: &BTreeMap<String, String>,
    books: &[(String, CatalogBook)],
) -> Vec<FieldViolation> {
    // Missing parameter -> (books requiring it, first description).
    let mut missing: Vec<(&str, Vec<&str>, &str)> = Vec::new();
    for (book_name, book) in books {
        for parameter in &book.required {
            if parameters.contains_key(&parameter.name) {
                continue;
            }
            match missing
                .iter_mut()
                .find(|(name, ..)| *name == parameter.name)
            {
                Some((_, by, _)) => by.push(book_name),
                None => missing.push((&parameter.name, vec![book_name], &parameter.description)),
            }
        }
    }
    missing
        .into_iter()
        .map(|(name, by, description)| {
            FieldViolation::new(
                format!("deployment.parameters.{name}"),
                required_by(&by, description),
            )
        })
        .collect()
}

/// `required by books/a and books/b (what it is)`; the description's closing period dropped, as
/// clients print the text inside a sentence.
fn required_by(books: &[&str], description: &str) -> String {
    let by = books.join(" and ");
    match description.trim().trim_end_matches('.') {
        "" => format!("required by {by}"),
        text => format!("required by {by} ({text})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(required: &[(&str, &str)]) -> CatalogBook {
        CatalogBook {
            deployment_type: "odoo".to_owned(),
            required: required
                .iter()
                .map(|(name, description)| RequiredParameter {
                    name: (*name).to_owned(),
                    description: (*description).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn every_missing_parameter_is_named_once_with_every_book_that_needs_it() {
        let parameters = BTreeMap::from([("host".to_owned(), "shop.example".to_owned())]);
        let books = [
            (
                "books/init".to_owned(),
                book(&[("db", "The database."), ("host", "Host.")]),
            ),
            (
                "books/deploy".to_owned(),
                book(&[("db", ""), ("secret", "")]),
            ),
        ];
        let violations = missing_parameters(&parameters, &books);
        let shown: Vec<(String, String)> = violations
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "deployment.parameters.db".to_owned(),
                    "required by books/init and books/deploy (The database)".to_owned()
                ),
                (
                    "deployment.parameters.secret".to_owned(),
                    "required by books/deploy".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn nothing_is_missing_when_every_required_parameter_is_set() {
        let parameters = BTreeMap::from([("db".to_owned(), "x".to_owned())]);
        assert!(
            missing_parameters(&parameters, &[("b".to_owned(), book(&[("db", "")]))]).is_empty()
        );
    }
}
