//! ListVersions, GetVersion and DiffVersions, and their refusals.

use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{ChangeKind, DiffVersionsRequest, GetVersionRequest, ListVersionsRequest};
use tonic::Code;

use crate::harness::{SHOP, record, record_request, start, violated_fields};

#[tokio::test]
async fn versions_page_newest_first_across_pages() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        for revision in 1..=5 {
            record(
                &mut running.recorder,
                SHOP,
                revision,
                &format!("odoo:17.{revision}"),
            )
            .await;
        }

        let mut pages = Vec::new();
        let mut token = String::new();
        loop {
            let page = running
                .versions
                .list_versions(ListVersionsRequest {
                    parent: SHOP.into(),
                    page_size: 2,
                    page_token: token.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            pages.push(page.versions.iter().map(|v| v.number).collect::<Vec<_>>());
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]], "{backend}");

        // A token is bound to its deployment.
        let other = "projects/acme/groups/web/deployments/blog";
        record(&mut running.recorder, other, 1, "odoo:17.0").await;
        let first = running
            .versions
            .list_versions(ListVersionsRequest {
                parent: SHOP.into(),
                page_size: 2,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let status = running
            .versions
            .list_versions(ListVersionsRequest {
                parent: other.into(),
                page_size: 2,
                page_token: first.next_page_token,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend}");
        assert_eq!(violated_fields(&status), ["page_token"], "{backend}");
    }
}

#[tokio::test]
async fn diff_of_non_adjacent_versions_shows_each_changed_field() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        let mut second = record_request(SHOP, 2, "odoo:17.0");
        second.key_fields.as_mut().unwrap().branch = "release".into();
        running.recorder.record_version(second).await.unwrap();
        let mut third = record_request(SHOP, 3, "odoo:18.0");
        let fields = third.key_fields.as_mut().unwrap();
        fields.branch = "release".into();
        fields.commit_ref = "4f2a9c1".into();
        fields.parameters.clear();
        running.recorder.record_version(third).await.unwrap();

        let diff = running
            .versions
            .diff_versions(DiffVersionsRequest {
                from: format!("{SHOP}/versions/1"),
                to: format!("{SHOP}/versions/3"),
            })
            .await
            .unwrap()
            .into_inner();
        let changes: Vec<_> = diff
            .changes
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.kind(),
                    c.old_value.as_str(),
                    c.new_value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            [
                ("branch", ChangeKind::Modified, "main", "release"),
                ("image", ChangeKind::Modified, "odoo:17.0", "odoo:18.0"),
                ("commit_ref", ChangeKind::Added, "", "4f2a9c1"),
                ("parameters.db_host", ChangeKind::Removed, "pg.acme", ""),
            ],
            "{backend}"
        );
        assert_eq!(diff.from.unwrap().number, 1);
        assert_eq!(diff.to.unwrap().number, 3);

        // The other way round, every change is reversed.
        let reverse = running
            .versions
            .diff_versions(DiffVersionsRequest {
                from: format!("{SHOP}/versions/3"),
                to: format!("{SHOP}/versions/1"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reverse.changes[2].kind(), ChangeKind::Removed, "{backend}");
        // A version against itself differs in nothing.
        let same = running
            .versions
            .diff_versions(DiffVersionsRequest {
                from: format!("{SHOP}/versions/2"),
                to: format!("{SHOP}/versions/2"),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(same.changes.is_empty(), "{backend}");
    }
}

#[tokio::test]
async fn refusals_carry_the_right_code_and_field() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        record(&mut running.recorder, SHOP, 1, "odoo:17.0").await;
        let blog = "projects/acme/groups/web/deployments/blog";
        record(&mut running.recorder, blog, 1, "odoo:17.0").await;

        // No version yet (the first may be on its way): an empty list, not an error.
        let unknown_deployment = running
            .versions
            .list_versions(ListVersionsRequest {
                parent: "projects/acme/groups/web/deployments/nope".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(unknown_deployment.versions.is_empty(), "{backend}");
        assert!(unknown_deployment.next_page_token.is_empty(), "{backend}");

        let unknown_version = running
            .versions
            .get_version(GetVersionRequest {
                name: format!("{SHOP}/versions/9"),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown_version.code(), Code::NotFound, "{backend}");
        assert!(
            unknown_version.message().contains("versions/9"),
            "{backend}"
        );

        let across = running
            .versions
            .diff_versions(DiffVersionsRequest {
                from: format!("{SHOP}/versions/1"),
                to: format!("{blog}/versions/1"),
            })
            .await
            .unwrap_err();
        assert_eq!(across.code(), Code::InvalidArgument, "{backend}");
        assert_eq!(violated_fields(&across), ["to"], "{backend}");

        let diff_missing = running
            .versions
            .diff_versions(DiffVersionsRequest {
                from: format!("{SHOP}/versions/1"),
                to: format!("{SHOP}/versions/2"),
            })
            .await
            .unwrap_err();
        assert_eq!(diff_missing.code(), Code::NotFound, "{backend}");

        for (status, field) in [
            (
                running
                    .versions
                    .list_versions(ListVersionsRequest {
                        parent: "projects/acme/deployments/shop".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err(),
                "parent",
            ),
            (
                running
                    .versions
                    .list_versions(ListVersionsRequest {
                        parent: SHOP.into(),
                        page_size: -3,
                        ..Default::default()
                    })
                    .await
                    .unwrap_err(),
                "page_size",
            ),
            (
                running
                    .versions
                    .get_version(GetVersionRequest {
                        name: format!("{SHOP}/versions/zero"),
                    })
                    .await
                    .unwrap_err(),
                "name",
            ),
            (
                running
                    .versions
                    .diff_versions(DiffVersionsRequest {
                        from: "versions/1".into(),
                        to: format!("{SHOP}/versions/1"),
                    })
                    .await
                    .unwrap_err(),
                "from",
            ),
        ] {
            assert_eq!(status.code(), Code::InvalidArgument, "{backend}: {field}");
            assert_eq!(violated_fields(&status), [field], "{backend}: {status:?}");
        }
    }
}
