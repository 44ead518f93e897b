//! Pagination shared by every List call: page sizes and opaque page tokens.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::violation::FieldViolation;

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page served; larger requests are served this many.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// The number of items to return for a requested `page_size` (0: the default; above the
/// maximum: the maximum). A negative size is refused.
pub fn page_size(requested: i32) -> Result<u64, FieldViolation> {
    match u64::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
        Err(_) => Err(FieldViolation::new("page_size", "must not be negative")),
    }
}

/// Encodes the position where the next page starts as an opaque token.
pub fn encode_token<T: Serialize>(position: &T) -> String {
    let json = serde_json::to_vec(position).expect("page positions serialise");
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a token made by [`encode_token`]; `None` for an empty token (the first page).
pub fn decode_token<T: DeserializeOwned>(token: &str) -> Result<Option<T>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .map(Some)
        .ok_or_else(|| {
            FieldViolation::new(
                "page_token",
                "is not a token returned by a previous page of this list",
            )
        })
}

/// A position together with the list it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct Bound<T> {
    /// What identifies the list: its parent and its filters.
    list: String,
    /// Where the next page starts.
    at: T,
}

/// Encodes the position where the next page of `list` starts (`list` says what the list is:
/// its parent and filters), so that [`decode_for`] refuses the token for any other list.
pub fn encode_for<T: Serialize>(list: &str, position: T) -> String {
    encode_token(&Bound {
        list: list.to_owned(),
        at: position,
    })
}

/// Decodes a token made by [`encode_for`] for the same `list`; `None` for an empty token (the
/// first page). A token of another list (another parent, other filters) is refused: replayed
/// against it, it would skip or repeat items.
pub fn decode_for<T: DeserializeOwned>(
    list: &str,
    token: &str,
) -> Result<Option<T>, FieldViolation> {
    let Some(bound) = decode_token::<Bound<T>>(token)? else {
        return Ok(None);
    };
    if bound.list != list {
        return Err(FieldViolation::new(
            "page_token",
            "belongs to another list (its parent or filters differ)",
        ));
    }
    Ok(Some(bound.at))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Position {
        parent: String,
        before: i64,
    }

    #[test]
    fn page_sizes_default_cap_and_refuse_negatives() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(-1).unwrap_err().field, "page_size");
    }

    #[test]
    fn a_token_is_refused_by_every_list_but_its_own() {
        let token = encode_for("projects/a?state=deploy", 3_i64);
        assert_eq!(
            decode_for::<i64>("projects/a?state=deploy", &token).unwrap(),
            Some(3)
        );
        for other in [
            "projects/b?state=deploy",
            "projects/a?state=pause",
            "projects/a",
        ] {
            assert_eq!(
                decode_for::<i64>(other, &token).unwrap_err().field,
                "page_token",
                "{other}"
            );
        }
        assert_eq!(decode_for::<i64>("projects/a", "").unwrap(), None);
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let position = Position {
            parent: "projects/a".into(),
            before: 3,
        };
        let token = encode_token(&position);
        assert_eq!(decode_token::<Position>(&token).unwrap(), Some(position));
        assert_eq!(decode_token::<Position>("").unwrap(), None);
        assert_eq!(
            decode_token::<Position>("not-a-token").unwrap_err().field,
            "page_token"
        );
    }
}
