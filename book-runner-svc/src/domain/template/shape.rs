//! The check that printed values stayed data: the rendered text must have exactly the YAML
//! structure of the template's own text, with every printed value one whole scalar holding the
//! same text.
//!
//! Both texts are read as YAML events. The template's side (`skeleton`) holds a placeholder
//! where each value was printed; the rendered side holds the quoted values. Escaping makes the
//! two agree by construction; this check is what proves it on every render, so that a value
//! can never become structure, whatever an escaping bug or a template trick would allow.

use std::borrow::Cow;

use granit_parser::{Event, Parser};

use super::yaml_value::{CLOSE, OPEN, placeholder_index};

/// One structural event of a YAML text, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    /// What it is.
    pub kind: NodeKind<'a>,
    /// Its line, from 1.
    pub line: usize,
}

/// The events that make a YAML text's structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind<'a> {
    /// A document starts.
    DocumentStart,
    /// A document ends.
    DocumentEnd,
    /// A sequence starts.
    SequenceStart,
    /// A sequence ends.
    SequenceEnd,
    /// A mapping starts.
    MappingStart,
    /// A mapping ends.
    MappingEnd,
    /// A scalar, with its value after YAML's escapes.
    Scalar(Cow<'a, str>),
    /// A reference to an anchor.
    Alias,
}

/// How values print, for the errors of books written the old way.
const WHOLE_VALUES: &str = "a value prints as one whole quoted YAML value: write no quotes \
    around {{ }}, and build longer text in one expression, e.g. {{ deployment.slug ~ \"-db\" }}";

/// The rendered text's events, once it has been shown to have the skeleton's structure.
pub fn check<'a>(
    skeleton: &str,
    rendered: &'a str,
    printed: &[String],
) -> Result<Vec<Node<'a>>, String> {
    let expected = nodes(skeleton).map_err(|err| {
        if skeleton.contains(OPEN) {
            format!("is not valid YAML: {err}; {WHOLE_VALUES}")
        } else {
            format!("is not valid YAML: {err}")
        }
    })?;
    let actual = nodes(rendered)
        .map_err(|err| format!("is not valid YAML once the printed values are in place: {err}"))?;
    for (position, want) in expected.iter().enumerate() {
        let line = want.line;
        let Some(got) = actual.get(position) else {
            return Err(changed(skeleton, line));
        };
        match (&want.kind, &got.kind) {
            (NodeKind::Scalar(template), NodeKind::Scalar(value)) => {
                match placeholder_index(template) {
                    Some(index) if printed.get(index).map(String::as_str) == Some(value) => {}
                    Some(_) => return Err(changed(skeleton, line)),
                    None if template.contains([OPEN, CLOSE]) => {
                        return Err(format!(
                            "line {line} (`{}`) prints a value inside other text; {WHOLE_VALUES}",
                            shown(skeleton, line)
                        ));
                    }
                    None if template == value => {}
                    None => return Err(changed(skeleton, line)),
                }
            }
            (want, got) if std::mem::discriminant(want) == std::mem::discriminant(got) => {}
            _ => return Err(changed(skeleton, line)),
        }
    }
    if actual.len() != expected.len() {
        let line = actual.get(expected.len()).map_or(1, |node| node.line);
        return Err(changed(skeleton, line));
    }
    Ok(actual)
}

fn changed(skeleton: &str, line: usize) -> String {
    format!(
        "a printed value changed the YAML structure at line {line} (`{}`): values print as \
         data, never as structure",
        shown(skeleton, line)
    )
}

/// A line of the skeleton as people should see it: each placeholder as `<value>`.
fn shown(skeleton: &str, line: usize) -> String {
    let text = skeleton
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim();
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            OPEN => {
                inside = true;
                out.push_str("<value>");
            }
            CLOSE => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.replace("\"<value>\"", "<value>")
}

/// The structural events of a YAML text.
pub fn nodes(text: &str) -> Result<Vec<Node<'_>>, String> {
    let mut nodes = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|err| err.to_string())?;
        let kind = match event {
            Event::DocumentStart(..) => NodeKind::DocumentStart,
            Event::DocumentEnd => NodeKind::DocumentEnd,
            Event::SequenceStart(..) => NodeKind::SequenceStart,
            Event::SequenceEnd => NodeKind::SequenceEnd,
            Event::MappingStart(..) => NodeKind::MappingStart,
            Event::MappingEnd => NodeKind::MappingEnd,
            Event::Scalar(value, ..) => NodeKind::Scalar(value),
            Event::Alias(..) => NodeKind::Alias,
            // Stream bounds, anchors' names and comments are not structure.
            _ => continue,
        };
        nodes.push(Node {
            kind,
            line: span.start.line(),
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder(index: usize) -> String {
        format!("\"{OPEN}{index}{CLOSE}\"")
    }

    #[test]
    fn a_value_in_place_of_its_placeholder_passes() {
        let skeleton = format!("a: {}\nb: [1, {}]\n", placeholder(0), placeholder(1));
        let rendered = "a: \"x: y\"\nb: [1, \"z\"]\n";
        let nodes = check(&skeleton, rendered, &["x: y".into(), "z".into()]).unwrap();
        assert!(nodes.contains(&Node {
            kind: NodeKind::Scalar("x: y".into()),
            line: 1
        }));
    }

    #[test]
    fn structure_where_a_value_was_printed_is_refused() {
        let skeleton = format!("a: {}\n", placeholder(0));
        let err = check(&skeleton, "a: {privileged: true}\n", &["x".into()]).unwrap_err();
        assert!(err.contains("line 1 (`a: <value>`)"), "{err}");
        let err = check(&skeleton, "a: x\n---\nb: c\n", &["x".into()]).unwrap_err();
        assert!(err.contains("structure"), "{err}");
        let err = check(&skeleton, "a: other\n", &["x".into()]).unwrap_err();
        assert!(err.contains("structure"), "{err}");
    }

    #[test]
    fn a_value_inside_other_text_is_refused_with_a_hint() {
        let skeleton = format!("name: {}-db\n", placeholder(0));
        let err = check(&skeleton, "name: x-db\n", &["x".into()]).unwrap_err();
        assert!(err.contains("is not valid YAML"), "{err}");
        let skeleton = format!("conf: |\n  host = {}\n", placeholder(0));
        let err = check(&skeleton, "conf: |\n  host = \"x\"\n", &["x".into()]).unwrap_err();
        assert!(err.contains("inside other text"), "{err}");
    }
}
