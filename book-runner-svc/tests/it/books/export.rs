//! ExportBook over gRPC: the text CreateBook accepts back.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{self as pb, BookFormat, ExportBookRequest};
use tonic::Code;

use super::harness::{get, start, violated_fields, yaml};

#[tokio::test]
async fn exported_books_round_trip_through_create() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        for (format, project) in [
            (BookFormat::Yaml, "projects/acme"),
            (BookFormat::Json, "projects/beta"),
        ] {
            let exported = running
                .books
                .export_book(ExportBookRequest {
                    name: "books/odoo-deploy".into(),
                    format: format.into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(exported.format(), format, "{backend}");
            let copy = running
                .books
                .create_book(pb::CreateBookRequest {
                    parent: project.into(),
                    book_id: "odoo-deploy".into(),
                    content: Some(pb::create_book_request::Content::Source(exported)),
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            let original = get(&mut running, "books/odoo-deploy").await.unwrap();
            let strip = |book: pb::Book| pb::Book {
                name: String::new(),
                builtin: false,
                etag: String::new(),
                create_time: None,
                update_time: None,
                ..book
            };
            assert_eq!(strip(copy), strip(original), "{backend}: {format:?}");
        }
        let text = running
            .books
            .export_book(ExportBookRequest {
                name: "books/none-deploy".into(),
                format: BookFormat::Yaml.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(yaml(&text.text).format(), BookFormat::Yaml);
        assert!(
            text.text.contains("name: none-deploy"),
            "{backend}: {}",
            text.text
        );

        let status = running
            .books
            .export_book(ExportBookRequest {
                name: "books/odoo-deploy".into(),
                format: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(
            (status.code(), violated_fields(&status)),
            (Code::InvalidArgument, vec!["format".to_owned()]),
            "{backend}"
        );
        let status = running
            .books
            .export_book(ExportBookRequest {
                name: "books/nope".into(),
                format: 1,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend}");
    }
}
