//! ValidateBook over gRPC: each kind of bad book, with step and field named.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{
    self as pb, BookFormat, BookSource, ValidateBookRequest, ValidateBookResponse,
    validate_book_request::Content,
};
use tonic::Code;

use super::harness::{Running, WEB_BOOK, create_yaml, start, violated_fields, yaml};

/// A book of type `none` whose second step is `step` (YAML, indented as a list item).
fn with_step(step: &str) -> String {
    let first = WEB_BOOK
        .split("  - name: Wait for the Service")
        .next()
        .unwrap_or_default();
    format!("{first}{step}")
}

async fn validate(running: &mut Running, content: Content) -> ValidateBookResponse {
    running
        .books
        .validate_book(ValidateBookRequest {
            content: Some(content),
        })
        .await
        .unwrap()
        .into_inner()
}

/// `(step_index, step_name, field)` of each violation.
fn located(response: &ValidateBookResponse) -> Vec<(Option<u32>, String, String)> {
    response
        .violations
        .iter()
        .map(|v| (v.step_index, v.step_name.clone(), v.field.clone()))
        .collect()
}

#[tokio::test]
async fn each_kind_of_bad_book_is_refused_naming_step_and_field() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let step = |name: &str, body: &str| format!("  - name: {name}\n{body}");
        let cases = [
            (
                "unknown step kind",
                step(
                    "Scale",
                    "    uses: k8s.scale\n    with: {replicas: \"0\"}\n",
                ),
                "steps[1].uses",
                "k8s.scale",
            ),
            (
                "missing argument",
                step(
                    "Wait",
                    "    uses: k8s.wait\n    with: {api_version: v1, kind: Service, name: web}\n",
                ),
                "steps[1].with.condition",
                "needs this argument",
            ),
            (
                "unexpected argument",
                step(
                    "Delete",
                    "    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: web, replicas: \"1\"}\n",
                ),
                "steps[1].with.replicas",
                "takes no argument",
            ),
            (
                "template that does not parse",
                step(
                    "Delete",
                    "    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deployment.slug \"}\n",
                ),
                "steps[1].with.name",
                "does not parse",
            ),
            (
                "unknown name",
                step(
                    "Delete",
                    "    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deploymnet.slug }}\"}\n",
                ),
                "steps[1].with.name",
                "deploymnet",
            ),
            (
                "undeclared parameter",
                step(
                    "Delete",
                    "    uses: k8s.delete\n    with: {api_version: v1, kind: Service, name: \"{{ deployment.parameters.db_hots }}\"}\n",
                ),
                "steps[1].with.name",
                "undefined",
            ),
        ];
        for (kind, step_yaml, field, hint) in cases {
            let text = with_step(&step_yaml);
            // As text, and as the structured book the text parses into: the same verdict.
            let from_text = validate(&mut running, Content::Source(yaml(&text))).await;
            let structured = from_text.book.clone().expect("the parsed book");
            let from_book = validate(&mut running, Content::Book(structured)).await;
            for response in [&from_text, &from_book] {
                let step_name = step_yaml
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("  - name: ");
                assert_eq!(
                    located(response),
                    [(Some(1), step_name.to_owned(), field.to_owned())],
                    "{backend}: {kind}"
                );
                assert!(
                    response.violations[0].description.contains(hint),
                    "{backend}: {kind}: {:?}",
                    response.violations
                );
            }

            // CreateBook refuses the same book with the same place named.
            let status = running
                .books
                .create_book(create_yaml("", "web-deploy", &text))
                .await
                .unwrap_err();
            assert_eq!(
                (status.code(), violated_fields(&status)),
                (Code::InvalidArgument, vec![format!("book.{field}")]),
                "{backend}: {kind}"
            );
        }
    }
}

#[tokio::test]
async fn valid_books_have_no_violation_and_come_back_parsed() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let response = validate(&mut running, Content::Source(yaml(WEB_BOOK))).await;
        assert_eq!(response.violations, [], "{backend}");
        let book = response.book.expect("the parsed book");
        assert_eq!(
            (book.r#type(), book.steps.len(), book.parameters.len()),
            (pb::DeploymentType::None, 2, 2),
            "{backend}"
        );

        // Without a name (a book being written), only real problems show.
        let unnamed = WEB_BOOK.replace("name: web-deploy\n", "");
        assert_eq!(
            validate(&mut running, Content::Source(yaml(&unnamed)))
                .await
                .violations,
            [],
            "{backend}"
        );
        let structured = pb::Book {
            name: String::new(),
            ..book
        };
        assert_eq!(
            validate(&mut running, Content::Book(structured))
                .await
                .violations,
            [],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn book_level_problems_and_unparsable_texts_are_violations_too() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let response = validate(&mut running, Content::Source(yaml("name: [unclosed\n"))).await;
        assert_eq!(
            located(&response),
            [(None, String::new(), "source".to_owned())],
            "{backend}"
        );
        assert!(response.book.is_none(), "{backend}");

        let bad = pb::Book {
            name: "books/Bad_Name".into(),
            parameters: vec![pb::BookParameter {
                name: "Port".into(),
                ..Default::default()
            }],
            steps: vec![pb::Step {
                name: "Wait".into(),
                uses: "k8s.wait".into(),
                r#if: "deployment.parameters.Port ==".into(),
                with: [
                    ("api_version", "v1"),
                    ("kind", "Pod"),
                    ("name", "p"),
                    ("condition", "ready"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                timeout: Some(prost_types::Duration {
                    seconds: -5,
                    nanos: 0,
                }),
                retries: 0,
            }],
            ..Default::default()
        };
        let response = validate(&mut running, Content::Book(bad)).await;
        let fields: Vec<String> = response
            .violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "type",
                "parameters[0].name",
                "steps[0].timeout",
                "steps[0].if"
            ],
            "{backend}: {:?}",
            response.violations
        );

        let malformed = [
            ValidateBookRequest { content: None },
            ValidateBookRequest {
                content: Some(Content::Source(BookSource {
                    format: BookFormat::Unspecified.into(),
                    text: WEB_BOOK.into(),
                })),
            },
        ];
        for request in malformed {
            let status = running.books.validate_book(request).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{backend}");
        }
    }
}

#[tokio::test]
async fn a_template_bomb_ends_with_a_clear_error_while_other_calls_are_served() {
    let database = test_databases().remove(0);
    let mut running = start(database).await;
    let bomb = with_step(
        "  - name: Bomb\n    uses: k8s.apply\n    with:\n      manifest: |\n        {% for a in \"x\" * 100000 %}{% for b in \"x\" * 100000 %}{% endfor %}{% endfor %}\n",
    );
    let mut other = running.books.clone();
    let (response, listed) = tokio::join!(
        validate(&mut running, Content::Source(yaml(&bomb))),
        other.list_books(pb::ListBooksRequest {
            include_global: true,
            ..Default::default()
        }),
    );
    assert!(listed.is_ok(), "{listed:?}");
    let bombed: Vec<_> = response
        .violations
        .iter()
        .filter(|v| v.field == "steps[1].with.manifest")
        .collect();
    // Ended by its fuel (a count of template steps), not by a clock: how long that takes is
    // no matter for a test on a loaded machine.
    assert!(
        bombed.len() == 1 && bombed[0].description.contains("fuel"),
        "{response:?}"
    );
}
