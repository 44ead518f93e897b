//! ListBooks over gRPC: the built-ins, paging, the type filter and `include_global`.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{DeploymentType, ListBooksRequest};
use tonic::Code;

use super::harness::{Running, WEB_BOOK, create, start, violated_fields};

async fn names(running: &mut Running, request: ListBooksRequest) -> (Vec<String>, String) {
    let page = running
        .books
        .list_books(request)
        .await
        .unwrap()
        .into_inner();
    (
        page.books.into_iter().map(|book| book.name).collect(),
        page.next_page_token,
    )
}

async fn every_page(running: &mut Running, mut request: ListBooksRequest) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let (page, token) = names(running, request.clone()).await;
        pages.push(page);
        if token.is_empty() {
            return pages;
        }
        request.page_token = token;
    }
}

#[tokio::test]
async fn the_sixteen_builtins_are_listed_as_global_books() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let page = running
            .books
            .list_books(ListBooksRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.books.len(), 16, "{backend}");
        assert!(page.next_page_token.is_empty(), "{backend}");
        assert!(
            page.books
                .iter()
                .all(|book| book.builtin && book.name.starts_with("books/")),
            "{backend}"
        );
        let mut sorted: Vec<&str> = page.books.iter().map(|book| book.name.as_str()).collect();
        sorted.sort_unstable();
        let listed: Vec<&str> = page.books.iter().map(|book| book.name.as_str()).collect();
        assert_eq!(listed, sorted, "{backend}: ordered by name");
        for deployment_type in ["odoo", "pgo", "pxc", "none"] {
            for phase in ["initialize", "deploy", "pause", "drop"] {
                let name = format!("books/{deployment_type}-{phase}");
                assert!(listed.contains(&name.as_str()), "{backend}: {name}");
            }
        }
    }
}

#[tokio::test]
async fn lists_page_filter_by_type_and_add_the_global_books() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        for id in ["web-c", "web-a", "web-b"] {
            create(
                &mut running,
                "projects/acme",
                id,
                &WEB_BOOK.replace("name: web-deploy", &format!("name: {id}")),
            )
            .await;
        }
        create(
            &mut running,
            "projects/beta",
            "web-a",
            &WEB_BOOK.replace("name: web-deploy", "name: web-a"),
        )
        .await;

        let acme = ListBooksRequest {
            parent: "projects/acme".into(),
            page_size: 2,
            ..Default::default()
        };
        let pages = every_page(&mut running, acme.clone()).await;
        assert_eq!(
            pages,
            [
                vec!["projects/acme/books/web-a", "projects/acme/books/web-b"],
                vec!["projects/acme/books/web-c"]
            ],
            "{backend}"
        );

        // The project's own books first, then the global ones, across page boundaries.
        let with_global = ListBooksRequest {
            include_global: true,
            page_size: 3,
            r#type: DeploymentType::None.into(),
            ..acme.clone()
        };
        let pages = every_page(&mut running, with_global).await;
        assert_eq!(
            pages,
            [
                vec![
                    "projects/acme/books/web-a",
                    "projects/acme/books/web-b",
                    "projects/acme/books/web-c"
                ],
                vec![
                    "books/none-deploy",
                    "books/none-drop",
                    "books/none-initialize"
                ],
                vec!["books/none-pause"],
            ],
            "{backend}"
        );

        let odoo = ListBooksRequest {
            r#type: DeploymentType::Odoo.into(),
            page_size: 10,
            ..acme.clone()
        };
        assert_eq!(
            names(&mut running, odoo).await.0,
            Vec::<String>::new(),
            "{backend}"
        );
        let odoo_global = ListBooksRequest {
            r#type: DeploymentType::Odoo.into(),
            ..Default::default()
        };
        assert_eq!(
            names(&mut running, odoo_global).await.0.len(),
            4,
            "{backend}"
        );

        // A token belongs to its list.
        let (_, token) = names(&mut running, acme.clone()).await;
        let refusals = [
            ListBooksRequest {
                parent: "projects/beta".into(),
                page_token: token.clone(),
                ..acme.clone()
            },
            ListBooksRequest {
                include_global: true,
                page_token: token.clone(),
                ..acme.clone()
            },
            ListBooksRequest {
                page_token: "garbage".into(),
                ..acme.clone()
            },
        ];
        for request in refusals {
            let status = running.books.list_books(request).await.unwrap_err();
            assert_eq!(
                (status.code(), violated_fields(&status)),
                (Code::InvalidArgument, vec!["page_token".to_owned()]),
                "{backend}"
            );
        }
        let status = running
            .books
            .list_books(ListBooksRequest {
                parent: "acme".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["parent"], "{backend}");
        let status = running
            .books
            .list_books(ListBooksRequest {
                page_size: -1,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["page_size"], "{backend}");
    }
}
