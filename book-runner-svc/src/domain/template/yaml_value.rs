//! How a template prints a value: always as YAML data, never as YAML syntax.
//!
//! Rendering happens in two passes over the same output. The template engine's formatter writes
//! a numbered placeholder for every string it prints and keeps the string aside ([`Printed`]);
//! [`substitute`] then puts each string back as one double-quoted scalar. The text with
//! placeholders is what the template's own shape is checked against (see `shape`), and the
//! substituted text is what runs.

use std::fmt::Write as _;

use minijinja::{Error, ErrorKind, Output, State, Value, value::ValueKind};

/// Opens a placeholder: a private-use character that templates may not contain.
pub const OPEN: char = '\u{E000}';
/// Closes a placeholder.
pub const CLOSE: char = '\u{E001}';

/// The strings a render printed, in the order of their placeholders.
#[derive(Debug, Default)]
pub struct Printed(pub Vec<String>);

/// The engine's formatter: numbers, booleans and null as themselves, strings as placeholders,
/// lists and maps as YAML flow collections of the same. Text the template itself produced (a
/// macro's output, a `{% set %}` block) is marked safe by the engine and written as it is.
pub fn format(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_safe() {
        return write!(out, "{value}").map_err(Error::from);
    }
    let mut text = String::new();
    write_value(&mut text, state, value)?;
    out.write_str(&text).map_err(Error::from)
}

fn write_value(text: &mut String, state: &mut State, value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => text.push_str("null"),
        ValueKind::Bool | ValueKind::Number => {
            let _ = write!(text, "{value}");
        }
        ValueKind::String => {
            let printed = state.get_or_insert_extension(Printed::default());
            let index = printed.0.len();
            printed
                .0
                .push(value.as_str().unwrap_or_default().to_owned());
            let _ = write!(text, "\"{OPEN}{index}{CLOSE}\"");
        }
        ValueKind::Seq | ValueKind::Iterable => {
            text.push('[');
            for (position, item) in value.try_iter()?.enumerate() {
                if position > 0 {
                    text.push_str(", ");
                }
                write_value(text, state, &item)?;
            }
            text.push(']');
        }
        ValueKind::Map => {
            text.push('{');
            for (position, key) in value.try_iter()?.enumerate() {
                if position > 0 {
                    text.push_str(", ");
                }
                let item = value.get_item(&key)?;
                write_value(text, state, &key)?;
                text.push_str(": ");
                write_value(text, state, &item)?;
            }
            text.push('}');
        }
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "an undefined value cannot be printed",
            ));
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("a value of kind {other} cannot be printed into a manifest"),
            ));
        }
    }
    Ok(())
}

/// The rendered text with every placeholder (`"` OPEN n CLOSE `"`, as [`format`] writes it)
/// replaced by its string as a double-quoted YAML scalar. `None` when the text holds a mark
/// that is not part of a whole placeholder, e.g. because a filter took a printed value apart
/// after it was printed.
pub fn substitute(text: &str, printed: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let before = rest[..start].strip_suffix('"')?;
        out.push_str(before);
        let after = &rest[start + OPEN.len_utf8()..];
        let end = after.find(CLOSE)?;
        let index: usize = after[..end].parse().ok()?;
        out.push_str(&quoted(printed.get(index)?));
        rest = after[end + CLOSE.len_utf8()..].strip_prefix('"')?;
    }
    if rest.contains(CLOSE) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// The placeholder number a scalar is, when it is exactly one placeholder.
pub fn placeholder_index(scalar: &str) -> Option<usize> {
    scalar.strip_prefix(OPEN)?.strip_suffix(CLOSE)?.parse().ok()
}

/// `text` as a YAML double-quoted scalar (also a JSON string): every character that could end
/// the scalar, break the line or is not printable in YAML is escaped.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters outside YAML's printable set, the Unicode line and paragraph separators that
/// YAML 1.1 readers take as line breaks, the byte-order mark, and the placeholder marks.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1F}'
        | '\u{7F}'..='\u{9F}'
        | '\u{2028}' | '\u{2029}'
        | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        | OPEN | CLOSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_read_back_as_the_same_text() {
        for text in [
            "plain",
            "with \"quotes\" and 'single'",
            "back\\slash",
            "new\nline\r\n",
            "---\n...\n",
            "{privileged: true}",
            "a: b # not a comment",
            "  leading spaces",
            "tab\there",
            "\u{0}\u{7}\u{1B}[31m\u{7F}\u{85}\u{9F}",
            "\u{2028}\u{2029}\u{FEFF}",
            "unicode: é 漢字 🦅",
            "\u{E000}0\u{E001}",
            "",
        ] {
            let yaml = format!("key: {}\n", quoted(text));
            let parsed: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(parsed["key"], text, "{yaml}");
            let json: String = serde_json::from_str(&quoted(text)).unwrap();
            assert_eq!(json, text);
        }
    }

    #[test]
    fn placeholders_are_replaced_by_quoted_strings() {
        let printed = vec!["a\"b".to_owned(), "c".to_owned()];
        let text = format!("x: \"{OPEN}1{CLOSE}\"\ny: \"{OPEN}0{CLOSE}\"\n");
        assert_eq!(
            substitute(&text, &printed).unwrap(),
            "x: \"c\"\ny: \"a\\\"b\"\n"
        );
        assert_eq!(substitute(&format!("\"{OPEN}7{CLOSE}\""), &printed), None);
        assert_eq!(substitute(&format!("\"{OPEN}0\""), &printed), None);
        assert_eq!(substitute(&format!("{OPEN}0{CLOSE}"), &printed), None);
        assert_eq!(placeholder_index(&format!("{OPEN}12{CLOSE}")), Some(12));
        assert_eq!(placeholder_index(&format!("a{OPEN}1{CLOSE}")), None);
    }
}
