//! Every built-in book, given hostile text in every field a user writes, renders that text as
//! data: the same objects with the same keys, the text whole in the scalars where a plain word
//! would have been. This is the attack of a deployer who writes YAML into a parameter.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{builtin_books, tests::plausible};
use crate::domain::{
    book::BookSpec,
    manifest::{parse_documents, parse_object},
    render::render_book,
    snapshot::{Snapshot, sample_snapshot},
    step_kind::ArgumentForm,
    template::Templates,
};

/// Every kind of text that could end a scalar, start structure or fool a YAML reader.
const HOSTILE: [&str; 16] = [
    // The issue's own attack: a probe's path that closes its quotes and adds a securityContext.
    "/x\"\n          securityContext:\n            privileged: true\n          startupProbe:\n            httpGet:\n              path: \"/y",
    "a\"b'c\\d",
    "line\nkind: Secret\n",
    "---\napiVersion: v1\nkind: ClusterRoleBinding\n",
    "...\n---",
    "{privileged: true}",
    "[a, b]",
    "# not a comment",
    "key: value",
    "  leading and trailing spaces  ",
    "unicode é 漢字 🦅",
    "separators \u{2028}\u{2029}\u{85}\u{FEFF} and controls \u{1}\u{1B}[31m\u{7F}",
    "tab\tand\rreturn",
    "*alias &anchor !!binary %YAML @x `y` |z >w",
    "{{ 7 * 7 }} {% if true %}",
    "~ null",
];

/// Parameters the books read as numbers (`| int`).
const NUMERIC: [&str; 11] = [
    "replicas",
    "port",
    "postgres_version",
    "workers",
    "max_cron_threads",
    "limit_memory_soft_mib",
    "limit_memory_hard_mib",
    "size",
    "haproxy_size",
    "run_as_user",
    "run_as_group",
];

/// A plain word, to find where a field prints.
const MARKER: &str = "m4rk3r";

/// A field as a template reads it, and a way to set it.
type Field = (String, Box<dyn Fn(&mut Snapshot, &str)>);

/// The fields a user writes, each with a way to set it.
fn fields(book: &BookSpec) -> Vec<Field> {
    let mut fields: Vec<Field> = vec![
        field("deployment.name", |s, v| s.deployment.name = v.into()),
        field("deployment.slug", |s, v| s.deployment.slug = v.into()),
        field("deployment.display_name", |s, v| {
            s.deployment.display_name = v.into()
        }),
        field("deployment.repository", |s, v| {
            s.deployment.repository = v.into()
        }),
        field("deployment.branch", |s, v| s.deployment.branch = v.into()),
        field("deployment.image", |s, v| s.deployment.image = v.into()),
        field("deployment.commit_ref", |s, v| {
            s.deployment.commit_ref = v.into()
        }),
        field("project.slug", |s, v| s.project.slug = v.into()),
        field("project.display_name", |s, v| {
            s.project.display_name = v.into()
        }),
        field("group.slug", |s, v| s.group.slug = v.into()),
        field("group.display_name", |s, v| s.group.display_name = v.into()),
        field("scope.display_name", |s, v| s.scope.display_name = v.into()),
        field("cluster.display_name", |s, v| {
            s.clusters[0].display_name = v.into()
        }),
        field("namespace", |s, v| s.namespace = v.into()),
    ];
    for parameter in &book.parameters {
        let name = parameter.name.clone();
        fields.push((
            format!("deployment.parameters.{name}"),
            Box::new(move |s: &mut Snapshot, v: &str| {
                s.deployment.parameters.insert(name.clone(), v.into());
            }),
        ));
    }
    fields
}

fn field(name: &str, set: impl Fn(&mut Snapshot, &str) + 'static) -> Field {
    (name.to_owned(), Box::new(set))
}

/// A deployment that sets every parameter of `book` to a plausible value.
fn snapshot_for(book: &BookSpec) -> Snapshot {
    let mut snapshot = sample_snapshot(&[]);
    snapshot.group.deployment_type = book.deployment_type.clone();
    for parameter in &book.parameters {
        // Every parameter set, so that every optional part of the book renders.
        let value = match &parameter.default {
            Some(default) if !default.is_empty() => default.clone(),
            _ => plausible(&parameter.name),
        };
        snapshot
            .deployment
            .parameters
            .insert(parameter.name.clone(), value);
    }
    snapshot
}

/// Every scalar of every rendered object, by its path (`step/document/key/key/0`).
fn scalars(
    templates: &Templates,
    book: &BookSpec,
    snapshot: &Snapshot,
) -> Result<BTreeMap<String, Value>, String> {
    let mut leaves = BTreeMap::new();
    for step in render_book(templates, book, snapshot, "deploy").map_err(|e| e.to_string())? {
        for (argument, text) in &step.arguments {
            let at = format!("{}/{argument}", step.step_index);
            match ArgumentForm::of(argument) {
                ArgumentForm::Documents => {
                    for (position, document) in parse_documents(text)?.iter().enumerate() {
                        flatten(&format!("{at}/{position}"), document, &mut leaves);
                    }
                }
                ArgumentForm::Mapping => flatten(&at, &parse_object(text)?, &mut leaves),
                ArgumentForm::Scalar => {
                    leaves.insert(at, Value::String(text.clone()));
                }
            }
        }
    }
    Ok(leaves)
}

fn flatten(path: &str, value: &Value, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            leaves.insert(path.to_owned(), Value::String("{}".into()));
            for (key, item) in map {
                flatten(&format!("{path}/{key}"), item, leaves);
            }
        }
        Value::Array(items) => {
            leaves.insert(path.to_owned(), Value::String("[]".into()));
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{path}/{index}"), item, leaves);
            }
        }
        scalar => {
            leaves.insert(path.to_owned(), scalar.clone());
        }
    }
}

/// What a scalar that held the marker holds with `hostile` in its place.
fn expected(with_marker: &Value, hostile: &str) -> Value {
    match with_marker {
        Value::String(text) => Value::String(
            text.replace(
                &format!("\"{MARKER}\""),
                &format!("\"{}\"", hostile.replace('"', "\"\"")),
            )
            .replace(MARKER, hostile),
        ),
        other => other.clone(),
    }
}

#[test]
fn hostile_text_in_any_field_renders_as_the_same_text_in_one_scalar() {
    let templates = Templates::default();
    let mut checked = 0;
    for book in builtin_books() {
        for (name, set) in fields(&book) {
            let mut marked = snapshot_for(&book);
            set(&mut marked, MARKER);
            // A field read as a number refuses a word: it cannot carry text. Any other field
            // must render with a word in it, or it would be checked for nothing.
            let with_marker = match scalars(&templates, &book, &marked) {
                Ok(with_marker) => with_marker,
                Err(err) if !NUMERIC.iter().any(|p| name.ends_with(&format!(".{p}"))) => {
                    panic!("{} {name}: a word does not render: {err}", book.name)
                }
                Err(_) => {
                    for hostile in HOSTILE {
                        let mut snapshot = snapshot_for(&book);
                        set(&mut snapshot, hostile);
                        assert!(
                            scalars(&templates, &book, &snapshot).is_err(),
                            "{} {name}: a numeric field took {hostile:?}",
                            book.name
                        );
                    }
                    continue;
                }
            };
            for hostile in HOSTILE {
                let mut snapshot = snapshot_for(&book);
                set(&mut snapshot, hostile);
                let at = format!("{} {name} = {hostile:?}", book.name);
                let with_hostile = scalars(&templates, &book, &snapshot)
                    .unwrap_or_else(|err| panic!("{at}: does not render: {err}"));
                let added: Vec<_> = with_hostile
                    .keys()
                    .filter(|k| !with_marker.contains_key(*k))
                    .collect();
                let lost: Vec<_> = with_marker
                    .keys()
                    .filter(|k| !with_hostile.contains_key(*k))
                    .collect();
                assert!(
                    added.is_empty() && lost.is_empty(),
                    "{at}: keys added {added:?}, lost {lost:?}"
                );
                for (path, value) in &with_marker {
                    let mentions_marker = value.as_str().is_some_and(|v| v.contains(MARKER));
                    let want = if mentions_marker {
                        expected(value, hostile)
                    } else {
                        value.clone()
                    };
                    assert_eq!(with_hostile[path], want, "{at}: {path}");
                    checked += usize::from(mentions_marker);
                }
            }
        }
    }
    assert!(
        checked > 1000,
        "only {checked} hostile scalars were checked"
    );
}
