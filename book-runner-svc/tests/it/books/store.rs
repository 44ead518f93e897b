//! SeaBookStore on every backend: built-ins, creation, listing order and paging, and the
//! compare-and-set of updates.

use eyrie_book_runner_svc::domain::{
    book::{BookFormat, BookSpec, DeploymentType},
    books::{BookError, BookName, BookQuery, NewBook},
    builtin::builtin_books,
};
use eyrie_platform::testing::{describe, test_databases};

use super::harness::{WEB_BOOK, store};

fn web(id: &str, deployment_type: &str) -> BookSpec {
    let mut spec = BookSpec::parse(BookFormat::Yaml, WEB_BOOK).unwrap();
    spec.name = id.to_owned();
    spec.deployment_type = deployment_type.to_owned();
    spec
}

fn new_book(project: Option<&str>, id: &str, deployment_type: &str) -> NewBook {
    NewBook {
        name: BookName {
            project: project.map(str::to_owned),
            id: id.to_owned(),
        },
        spec: web(id, deployment_type),
    }
}

#[tokio::test]
async fn builtins_are_installed_once_and_refreshed_when_their_content_changes() {
    for database in test_databases() {
        let backend = describe(&database);
        let store = store(&database).await;
        let shipped = builtin_books();
        store.ensure_builtins(&shipped).await.unwrap();
        store.ensure_builtins(&shipped).await.unwrap();
        let all = store
            .list(&BookQuery {
                limit: 100,
                ..BookQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 16, "{backend}");
        assert!(
            all.iter()
                .all(|book| book.builtin && book.revision == 1 && book.project.is_none()),
            "{backend}"
        );

        let mut changed = shipped.clone();
        changed[0].description.push_str(" Changed.");
        store.ensure_builtins(&changed).await.unwrap();
        let refreshed = store
            .get(&format!("books/{}", changed[0].name))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (refreshed.revision, &refreshed.spec),
            (2, &changed[0]),
            "{backend}"
        );
        let untouched = store
            .get(&format!("books/{}", changed[1].name))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(untouched.revision, 1, "{backend}");
    }
}

#[tokio::test]
async fn replicas_starting_together_all_succeed() {
    for database in test_databases() {
        let backend = describe(&database);
        let shipped = builtin_books();
        // Several connections to one database where the backend allows it (an in-memory SQLite
        // database lives in its one connection): each plays a replica.
        let stores = if database.is_postgres() {
            vec![
                store(&database).await,
                store(&database).await,
                store(&database).await,
            ]
        } else {
            let one = store(&database).await;
            vec![one.clone(), one.clone(), one]
        };
        let results =
            futures::future::join_all(stores.iter().map(|store| store.ensure_builtins(&shipped)))
                .await;
        for result in results {
            result.unwrap_or_else(|err| panic!("{backend}: {err}"));
        }
        let all = stores[0]
            .list(&BookQuery {
                limit: 100,
                ..BookQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 16, "{backend}");
    }
}

#[tokio::test]
async fn a_taken_name_is_already_exists() {
    for database in test_databases() {
        let backend = describe(&database);
        let store = store(&database).await;
        let created = store
            .create(&new_book(Some("acme"), "web", "none"))
            .await
            .unwrap();
        assert_eq!(
            (
                created.name.as_str(),
                created.revision,
                created.etag().as_str()
            ),
            ("projects/acme/books/web", 1, "r1"),
            "{backend}"
        );
        let again = store
            .create(&new_book(Some("acme"), "web", "odoo"))
            .await
            .unwrap_err();
        assert!(
            matches!(again, BookError::AlreadyExists(ref name) if name == "projects/acme/books/web"),
            "{backend}: {again}"
        );
        // The same id elsewhere is another book.
        store
            .create(&new_book(Some("beta"), "web", "none"))
            .await
            .unwrap();
        store.create(&new_book(None, "web", "none")).await.unwrap();
        assert_eq!(
            store
                .get("projects/acme/books/web")
                .await
                .unwrap()
                .unwrap()
                .spec
                .deployment_type,
            "none",
            "{backend}"
        );
        assert!(
            store
                .get("projects/acme/books/nope")
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn lists_put_a_projects_books_before_the_global_ones_and_page_across_both() {
    for database in test_databases() {
        let backend = describe(&database);
        let store = store(&database).await;
        for (project, id, deployment_type) in [
            (Some("acme"), "c", "none"),
            (Some("acme"), "a", "odoo"),
            (Some("acme"), "b", "none"),
            (Some("beta"), "a", "none"),
            (None, "z", "none"),
            (None, "y", "odoo"),
        ] {
            store
                .create(&new_book(project, id, deployment_type))
                .await
                .unwrap();
        }
        let list = |project: Option<&str>,
                    include_global: bool,
                    deployment_type: Option<DeploymentType>| BookQuery {
            project: project.map(str::to_owned),
            include_global,
            deployment_type,
            after_name: None,
            limit: 2,
        };
        let mut pages = Vec::new();
        let mut query = list(Some("acme"), true, None);
        loop {
            let page = store.list(&query).await.unwrap();
            let names: Vec<String> = page.iter().map(|book| book.name.clone()).collect();
            let done = names.len() < 2;
            query.after_name = names.last().cloned();
            pages.push(names);
            if done {
                break;
            }
        }
        let expected: Vec<Vec<&str>> = vec![
            vec!["projects/acme/books/a", "projects/acme/books/b"],
            vec!["projects/acme/books/c", "books/y"],
            vec!["books/z"],
        ];
        assert_eq!(pages, expected, "{backend}");

        let own = store
            .list(&BookQuery {
                limit: 10,
                ..list(Some("acme"), false, None)
            })
            .await
            .unwrap();
        assert_eq!(own.len(), 3, "{backend}");
        let odoo = store
            .list(&BookQuery {
                limit: 10,
                ..list(Some("acme"), true, Some(DeploymentType::Odoo))
            })
            .await
            .unwrap();
        let names: Vec<&str> = odoo.iter().map(|book| book.name.as_str()).collect();
        assert_eq!(names, ["projects/acme/books/a", "books/y"], "{backend}");
        let global = store
            .list(&BookQuery {
                limit: 10,
                ..list(None, true, None)
            })
            .await
            .unwrap();
        let names: Vec<&str> = global.iter().map(|book| book.name.as_str()).collect();
        assert_eq!(names, ["books/y", "books/z"], "{backend}");
    }
}

#[tokio::test]
async fn updates_compare_and_set_the_revision() {
    for database in test_databases() {
        let backend = describe(&database);
        let store = store(&database).await;
        store.ensure_builtins(&builtin_books()).await.unwrap();
        let created = store
            .create(&new_book(Some("acme"), "web", "none"))
            .await
            .unwrap();
        let mut changed = created.spec.clone();
        changed.description = "Changed.".into();

        let updated = store.update(&created.name, 1, &changed).await.unwrap();
        assert_eq!(
            (updated.revision, &updated.spec),
            (2, &changed),
            "{backend}"
        );
        assert!(
            updated.updated_at >= created.updated_at && updated.created_at == created.created_at,
            "{backend}"
        );

        let mut stale = changed.clone();
        stale.description = "Lost update.".into();
        let err = store.update(&created.name, 1, &stale).await.unwrap_err();
        assert!(
            matches!(err, BookError::EtagMismatch { ref expected, ref actual, .. } if expected == "r1" && actual == "r2"),
            "{backend}: {err}"
        );
        assert_eq!(
            store.get(&created.name).await.unwrap().unwrap().spec,
            changed,
            "{backend}: nothing changed"
        );

        let mut retyped = changed.clone();
        retyped.deployment_type = "odoo".into();
        let err = store.update(&created.name, 2, &retyped).await.unwrap_err();
        assert!(
            matches!(err, BookError::Invalid(ref v) if v[0].field == "book.type"),
            "{backend}: {err}"
        );

        let builtin = store.get("books/odoo-deploy").await.unwrap().unwrap();
        let err = store
            .update(&builtin.name, builtin.revision, &builtin.spec)
            .await
            .unwrap_err();
        assert!(
            matches!(err, BookError::BuiltinReadOnly(_)),
            "{backend}: {err}"
        );

        let err = store
            .update("projects/acme/books/nope", 1, &changed)
            .await
            .unwrap_err();
        assert!(matches!(err, BookError::NotFound(_)), "{backend}: {err}");
    }
}
