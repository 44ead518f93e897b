//! The parameters a deployment group's books take, merged over its books: what `eyrie group
//! show` lists and the console's New deployment form asks for.

use crate::v1::BookParameter;

/// One parameter as a group's books declare it, merged over the books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupParameter {
    /// The parameter's name (`deployment.parameters.<name>` in templates).
    pub name: String,
    /// Whether any of the books requires it.
    pub required: bool,
    /// The first default a book gives; empty when none does.
    pub default_value: String,
    /// The first description a book gives.
    pub description: String,
    /// The books declaring it, in the order given.
    pub books: Vec<String>,
}

/// Merges the parameters of `books` (each book's name and declared parameters, in phase order):
/// a parameter is required when any book requires it, and takes the first default and
/// description given. Parameters keep the order in which they first appear.
pub fn merge(books: &[(String, Vec<BookParameter>)]) -> Vec<GroupParameter> {
    let mut merged: Vec<GroupParameter> = Vec::new();
    for (book, parameters) in books {
        for parameter in parameters {
            let index = match merged.iter().position(|p| p.name == parameter.name) {
                Some(index) => index,
                None => {
                    merged.push(GroupParameter {
                        name: parameter.name.clone(),
                        ..GroupParameter::default()
                    });
                    merged.len() - 1
                }
            };
            let entry = &mut merged[index];
            entry.required |= parameter.required;
            if entry.default_value.is_empty() {
                entry.default_value.clone_from(&parameter.default_value);
            }
            if entry.description.is_empty() {
                entry.description.clone_from(&parameter.description);
            }
            if !entry.books.contains(book) {
                entry.books.push(book.clone());
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(
        name: &str,
        required: bool,
        default_value: &str,
        description: &str,
    ) -> BookParameter {
        BookParameter {
            name: name.to_owned(),
            description: description.to_owned(),
            required,
            default_value: default_value.to_owned(),
        }
    }

    #[test]
    fn a_parameter_is_required_by_any_book_and_takes_the_first_default_and_description() {
        let books = [
            (
                "books/a".to_owned(),
                vec![
                    parameter("port", false, "5432", ""),
                    parameter("host", false, "", "Database host"),
                ],
            ),
            (
                "books/b".to_owned(),
                vec![
                    parameter("host", true, "", "Other words"),
                    parameter("port", false, "1", "Database port"),
                ],
            ),
        ];
        let merged = merge(&books);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].name, "port");
        assert_eq!(merged[0].default_value, "5432");
        assert_eq!(merged[0].description, "Database port");
        assert_eq!(merged[0].books, ["books/a", "books/b"]);
        assert_eq!(merged[1].name, "host");
        assert!(merged[1].required);
        assert_eq!(merged[1].description, "Database host");
    }
}
