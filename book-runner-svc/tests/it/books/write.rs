//! CreateBook, GetBook and UpdateBook over gRPC, with every refusal's code and field.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{
    self as pb, BookFormat, BookSource, CreateBookRequest, UpdateBookRequest, create_book_request,
};
use tonic::Code;

use super::harness::{WEB_BOOK, create, create_yaml, get, start, violated_fields, yaml};

#[tokio::test]
async fn books_are_created_from_yaml_or_structured_and_read_back() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;

        let created = create(&mut running, "projects/acme", "web-deploy", WEB_BOOK).await;
        assert_eq!(created.name, "projects/acme/books/web-deploy", "{backend}");
        assert_eq!(
            (created.builtin, created.etag.as_str()),
            (false, "r1"),
            "{backend}"
        );
        assert_eq!(created.r#type(), pb::DeploymentType::None, "{backend}");
        assert_eq!(
            created.steps[0].timeout.map(|t| t.seconds),
            Some(90),
            "{backend}"
        );
        assert_eq!(created.steps[0].retries, 2, "{backend}");
        assert!(
            created.create_time.is_some() && created.update_time.is_some(),
            "{backend}"
        );
        assert_eq!(
            get(&mut running, &created.name).await.unwrap(),
            created,
            "{backend}"
        );

        // A structured book: its `name` and output-only fields are ignored.
        let structured = pb::Book {
            name: "books/whatever".into(),
            builtin: true,
            etag: "r9".into(),
            ..created.clone()
        };
        let copy = running
            .books
            .create_book(CreateBookRequest {
                parent: String::new(),
                book_id: "web-copy".into(),
                content: Some(create_book_request::Content::Book(structured)),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (copy.name.as_str(), copy.builtin, copy.etag.as_str()),
            ("books/web-copy", false, "r1"),
            "{backend}"
        );
        assert_eq!(
            (&copy.steps, &copy.parameters),
            (&created.steps, &created.parameters),
            "{backend}"
        );

        let status = running
            .books
            .create_book(create_yaml("projects/acme", "web-deploy", WEB_BOOK))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{backend}");
        // A retry carrying a request id gets the book it created back.
        let mut retry = create_yaml("projects/acme", "web-deploy", WEB_BOOK);
        retry.request_id = "create-web-1".into();
        let again = running.books.create_book(retry).await.unwrap().into_inner();
        assert_eq!(again, created, "{backend}");

        let status = get(&mut running, "projects/acme/books/nope")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend}");
        let status = get(&mut running, "projects/acme/nope").await.unwrap_err();
        assert_eq!(
            (status.code(), violated_fields(&status)),
            (Code::InvalidArgument, vec!["name".to_owned()]),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn create_refusals_name_their_field() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let bad_steps = WEB_BOOK.replace("uses: k8s.wait", "uses: k8s.scale");
        let cases: Vec<(CreateBookRequest, Vec<&str>)> = vec![
            (create_yaml("acme", "web", WEB_BOOK), vec!["parent"]),
            (create_yaml("", "Web_Deploy", WEB_BOOK), vec!["book_id"]),
            (
                CreateBookRequest {
                    content: None,
                    ..create_yaml("", "web", WEB_BOOK)
                },
                vec!["content"],
            ),
            (create_yaml("", "other-name", WEB_BOOK), vec!["source"]),
            (
                create_yaml("", "web-deploy", "name: [unclosed\n"),
                vec!["source"],
            ),
            (
                create_yaml("", "web-deploy", "type: none\nstepz: []\n"),
                vec!["source"],
            ),
            (
                CreateBookRequest {
                    content: Some(create_book_request::Content::Source(BookSource {
                        format: BookFormat::Unspecified.into(),
                        text: WEB_BOOK.into(),
                    })),
                    ..create_yaml("", "web-deploy", WEB_BOOK)
                },
                vec!["source.format"],
            ),
            (
                create_yaml("", "web-deploy", &bad_steps),
                vec!["book.steps[1].uses"],
            ),
        ];
        for (request, fields) in cases {
            let status = running
                .books
                .create_book(request.clone())
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{backend}: {request:?}"
            );
            assert_eq!(
                violated_fields(&status),
                fields,
                "{backend}: {}",
                status.message()
            );
        }
        // A source without name takes the request's id.
        let unnamed = WEB_BOOK.replace("name: web-deploy\n", "");
        let created = create(&mut running, "", "unnamed", &unnamed).await;
        assert_eq!(created.name, "books/unnamed", "{backend}");
    }
}

#[tokio::test]
async fn builtins_are_listed_and_read_only() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let builtin = get(&mut running, "books/odoo-deploy").await.unwrap();
        assert!(builtin.builtin, "{backend}");
        let status = running
            .books
            .update_book(UpdateBookRequest {
                book: Some(builtin.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{backend}: {status:?}"
        );
        assert!(
            status.message().contains("copy"),
            "{backend}: {}",
            status.message()
        );
        assert_eq!(
            get(&mut running, "books/odoo-deploy").await.unwrap(),
            builtin,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn updates_need_the_current_etag_and_keep_the_type() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let created = create(&mut running, "projects/acme", "web-deploy", WEB_BOOK).await;

        let mut changed = created.clone();
        changed.description = "Runs the web app, twice as fast.".into();
        let updated = running
            .books
            .update_book(UpdateBookRequest {
                book: Some(changed.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (updated.etag.as_str(), updated.description.as_str()),
            ("r2", changed.description.as_str()),
            "{backend}"
        );
        assert_eq!(updated.create_time, created.create_time, "{backend}");

        // The etag read before that update is stale now: refused, and nothing changes.
        let mut stale = created.clone();
        stale.display_name = "Lost update".into();
        let status = running
            .books
            .update_book(UpdateBookRequest {
                book: Some(stale),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Aborted, "{backend}: {status:?}");
        assert_eq!(
            get(&mut running, &created.name).await.unwrap(),
            updated,
            "{backend}"
        );

        // Without etag, the update applies to the current content; a mask limits it.
        let masked = pb::Book {
            name: created.name.clone(),
            display_name: "Web".into(),
            description: "ignored".into(),
            ..Default::default()
        };
        let renamed = running
            .books
            .update_book(UpdateBookRequest {
                book: Some(masked),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (
                renamed.display_name.as_str(),
                renamed.description.as_str(),
                renamed.etag.as_str()
            ),
            ("Web", updated.description.as_str(), "r3"),
            "{backend}"
        );
        assert_eq!(renamed.steps, created.steps, "{backend}");

        // New content as YAML text.
        let text = WEB_BOOK.replace("Runs the web app.", "From YAML.");
        let from_text = running
            .books
            .update_book(UpdateBookRequest {
                book: Some(pb::Book {
                    name: created.name.clone(),
                    etag: "r3".into(),
                    ..Default::default()
                }),
                source: Some(yaml(&text)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (from_text.description.as_str(), from_text.etag.as_str()),
            ("From YAML.", "r4"),
            "{backend}"
        );

        let mut retyped = from_text.clone();
        retyped.r#type = pb::DeploymentType::Odoo.into();
        let refusals: Vec<(UpdateBookRequest, Code, Vec<&str>)> = vec![
            (
                UpdateBookRequest {
                    book: Some(retyped),
                    ..Default::default()
                },
                Code::InvalidArgument,
                vec!["book.type"],
            ),
            (
                UpdateBookRequest {
                    book: None,
                    ..Default::default()
                },
                Code::InvalidArgument,
                vec!["book"],
            ),
            (
                UpdateBookRequest {
                    book: Some(pb::Book::default()),
                    ..Default::default()
                },
                Code::InvalidArgument,
                vec!["book.name"],
            ),
            (
                UpdateBookRequest {
                    book: Some(from_text.clone()),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["type".into()],
                    }),
                    ..Default::default()
                },
                Code::InvalidArgument,
                vec!["update_mask"],
            ),
            (
                UpdateBookRequest {
                    book: Some(pb::Book {
                        steps: vec![pb::Step {
                            name: "Only".into(),
                            uses: "k8s.apply".into(),
                            ..Default::default()
                        }],
                        ..from_text.clone()
                    }),
                    ..Default::default()
                },
                Code::InvalidArgument,
                vec!["book.steps[0].with.manifest"],
            ),
            (
                UpdateBookRequest {
                    book: Some(pb::Book {
                        name: "projects/acme/books/nope".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Code::NotFound,
                vec![],
            ),
        ];
        for (request, code, fields) in refusals {
            let status = running
                .books
                .update_book(request.clone())
                .await
                .unwrap_err();
            assert_eq!(
                (status.code(), violated_fields(&status)),
                (code, fields.iter().map(|f| f.to_string()).collect()),
                "{backend}: {request:?}: {}",
                status.message()
            );
        }
        assert_eq!(
            get(&mut running, &created.name).await.unwrap(),
            from_text,
            "{backend}: refusals changed nothing"
        );
    }
}
