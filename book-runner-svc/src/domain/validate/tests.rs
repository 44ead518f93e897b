//! Every kind of bad book is refused with its step and field named.

use super::*;
use crate::domain::book::BookFormat;

fn book(steps: &str) -> BookSpec {
    let text = format!(
        "name: web-deploy\ntype: none\nparameters:\n  - name: port\n    default: \"8080\"\nsteps:\n{steps}"
    );
    BookSpec::parse(BookFormat::Yaml, &text).unwrap()
}

fn violations(steps: &str) -> Vec<(Option<usize>, String, String)> {
    validate(&book(steps), &Templates::default())
        .into_iter()
        .map(|v| (v.step_index, v.field, v.description))
        .collect()
}

const APPLY: &str = r#"  - name: Apply
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ deployment.slug }}
          namespace: {{ namespace }}
        spec:
          ports: [{port: {{ deployment.parameters.port | int }}}]
"#;

#[test]
fn a_valid_book_has_no_violation() {
    assert_eq!(violations(APPLY), []);
}

#[test]
fn an_unknown_step_kind_is_named() {
    let found = violations("  - name: Scale\n    uses: k8s.scale\n    with: {replicas: \"0\"}\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1.as_str()), (Some(0), "uses"));
    assert!(
        found[0].2.contains("k8s.scale") && found[0].2.contains("k8s.patch"),
        "{found:?}"
    );
}

#[test]
fn missing_and_unexpected_arguments_are_named() {
    let found = violations(&format!(
        "{APPLY}  - name: Wait\n    uses: k8s.wait\n    with: {{api_version: apps/v1, kind: Deployment, name: web, replicas: \"1\"}}\n"
    ));
    let fields: Vec<_> = found.iter().map(|(i, f, _)| (*i, f.as_str())).collect();
    assert_eq!(
        fields,
        [(Some(1), "with.condition"), (Some(1), "with.replicas")],
        "{found:?}"
    );
}

#[test]
fn a_template_that_does_not_parse_is_named() {
    let found = violations(
        "  - name: Delete\n    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deployment.slug \"}\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "with.name");
    assert!(found[0].2.contains("does not parse"), "{found:?}");
}

#[test]
fn unknown_names_attributes_and_parameters_are_named() {
    let found = violations(concat!(
        "  - name: A\n    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deploymnet.slug }}\"}\n",
        "  - name: B\n    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deployment.sluggish }}\"}\n",
        "  - name: C\n    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deployment.parameters.db_host }}\"}\n",
    ));
    let located: Vec<_> = found.iter().map(|(i, f, _)| (*i, f.as_str())).collect();
    assert_eq!(
        located,
        [
            (Some(0), "with.name"),
            (Some(1), "with.name"),
            (Some(2), "with.name")
        ],
        "{found:?}"
    );
    assert!(found[0].2.contains("deploymnet"), "{found:?}");
    assert!(found[1].2.contains("sluggish"), "{found:?}");
    assert!(
        found[2].2.contains("undefined"),
        "an undeclared parameter is undefined: {found:?}"
    );
}

#[test]
fn rendered_arguments_are_checked_for_their_kind() {
    let found = violations(concat!(
        "  - name: Apply\n    uses: k8s.apply\n    with: {manifest: \"kind: Service\\n\"}\n",
        "  - name: Wait\n    uses: k8s.wait\n    with: {api_version: v1, kind: Pod, name: p, condition: healthy}\n",
        "  - name: Patch\n    uses: k8s.patch\n    with: {api_version: v1, kind: Pod, name: p, patch: \"[1]\"}\n",
    ));
    let located: Vec<_> = found.iter().map(|(i, f, _)| (*i, f.as_str())).collect();
    assert_eq!(
        located,
        [
            (Some(0), "with.manifest"),
            (Some(1), "with.condition"),
            (Some(2), "with.patch")
        ],
        "{found:?}"
    );
}

#[test]
fn fail_when_is_checked_like_condition() {
    let wait = |fail_when: &str| {
        format!(
            "  - name: Wait\n    uses: k8s.wait\n    with:\n      api_version: v1\n      \
             kind: Pod\n      name: p\n      condition: exists\n      fail_when: {fail_when}\n"
        )
    };
    assert_eq!(violations(&wait("field:status.state=error")), []);
    assert_eq!(
        violations(&wait(
            "|\n        field:status.state=error\n        condition:Failed"
        )),
        []
    );
    let found = violations(&wait("|\n        field:status.state=error\n        broken"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (Some(0), "with.fail_when")
    );
    assert!(
        found[0]
            .2
            .starts_with("condition 2: unknown condition \"broken\": expected one of"),
        "{found:?}"
    );
}

#[test]
fn book_level_problems_are_named() {
    let text = "name: Web_Deploy\ntype: helm\nparameters:\n  - name: port\n  - name: port\n  - name: Host\n    required: true\n    default: x\nsteps: []\n";
    let spec = BookSpec::parse(BookFormat::Yaml, text).unwrap();
    let fields: Vec<_> = validate(&spec, &Templates::default())
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "type",
            "parameters[1].name",
            "parameters[2].name",
            "parameters[2].default",
            "steps"
        ]
    );
}

#[test]
fn a_duplicate_step_name_is_named_at_the_second_step() {
    let found = violations(&format!("{APPLY}{APPLY}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1.as_str()), (Some(1), "name"));
    assert!(found[0].2.contains("earlier step"), "{found:?}");
}

#[test]
fn a_bad_condition_is_named_as_the_if_of_its_step() {
    let delete = |name: &str, condition: &str| {
        format!(
            "  - name: {name}\n    uses: k8s.delete\n    if: {condition}\n    \
             with: {{api_version: v1, kind: Service, name: web}}\n"
        )
    };
    assert_eq!(
        violations(&delete("A", "deployment.parameters.port != '80'")),
        []
    );
    let book = book(
        &[
            delete("Unparsed", "\"deployment.slug ==\""),
            delete("Unknown", "deploymnet.slug"),
            delete("Empty", "\"\""),
            delete("Undeclared", "not deployment.parameters.ingress_host"),
            delete("Braces", "\"{{ deployment.slug }}\""),
        ]
        .concat(),
    );
    let found = validate(&book, &Templates::default());
    let located: Vec<_> = found
        .iter()
        .map(crate::domain::books::violation_path)
        .collect();
    assert_eq!(
        located,
        [
            "steps[0].if",
            "steps[1].if",
            "steps[2].if",
            "steps[3].if",
            "steps[4].if"
        ],
        "{found:?}"
    );
    let described: Vec<_> = found.iter().map(ToString::to_string).collect();
    assert!(
        described[0].starts_with(r#"step 1 ("Unparsed") if: expression does not parse"#),
        "{described:?}"
    );
    assert!(
        described[1].ends_with("expression uses unknown name(s) deploymnet"),
        "{described:?}"
    );
    assert!(described[2].contains("is empty"), "{described:?}");
    assert!(
        described[3].contains("does not evaluate") && described[3].contains("undefined"),
        "an undeclared parameter is undefined, as in templates: {described:?}"
    );
    assert!(described[4].contains("does not parse"), "{described:?}");
}
