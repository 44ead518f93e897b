//! Issue 20, part 3: with 100,000 deployments in 1,000 groups, a page of a group's deployments
//! reads that page through the group's index, on SQLite and PostgreSQL alike: no scan of the
//! table, no sort of what it holds. What a page costs then does not grow with the table.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};

use super::databases;
use crate::{
    domain::{
        names::GroupName,
        resources::{DeploymentQuery, PageRequest},
    },
    store::resources::list_statement,
};

const DEPLOYMENTS: u32 = 100_000;
/// Deployments per group: 1,000 groups of 100, in 100 projects.
const PER_GROUP: u32 = 100;

/// Fills `deployments` with [`DEPLOYMENTS`] rows in one statement (one in ten dropped).
async fn seed(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    // Both databases generate the rows themselves: a recursive CTE on SQLite, a series on
    // PostgreSQL.
    let numbers = match backend {
        DbBackend::Postgres => format!(
            "SELECT g AS n FROM generate_series(0, {}) AS g",
            DEPLOYMENTS - 1
        ),
        _ => format!(
            "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {}) SELECT n FROM s",
            DEPLOYMENTS - 1
        ),
    };
    let concat = |parts: &[&str]| parts.join(" || ");
    let project = concat(&["'projects/p'", "CAST(n / 1000 AS TEXT)"]);
    let group = concat(&[
        &project,
        "'/groups/g'",
        &format!("CAST(n / {PER_GROUP} AS TEXT)"),
    ]);
    let name = concat(&[&group, "'/deployments/d'", "CAST(n AS TEXT)"]);
    let sql = format!(
        "INSERT INTO deployments (name, project, deployment_group, slug, display_name, \
         deployment_type, scope, clusters, repository, branch, image, commit_ref, parameters, \
         state, namespace, revision, current_version, last_operation, running_job_count, \
         create_time, update_time) \
         SELECT {name}, {project}, {group}, 'd' || CAST(n AS TEXT), 'D', 'none', \
         {project} || '/scopes/dev', '[]', '', '', 'nginx:1.27', '', '{{}}', \
         CASE WHEN n % 10 = 0 THEN 'dropped' ELSE 'deploy' END, 'ns-' || CAST(n AS TEXT), \
         1, 1, NULL, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM ({numbers}) AS numbers"
    );
    db.execute_unprepared(&sql).await.unwrap();
    db.execute_unprepared("ANALYZE").await.unwrap();
}

/// The plan of `statement`, as the database explains it, in one text.
async fn plan(db: &DatabaseConnection, statement: Statement) -> String {
    let backend = db.get_database_backend();
    let explain = match backend {
        DbBackend::Postgres => "EXPLAIN ",
        _ => "EXPLAIN QUERY PLAN ",
    };
    let explained = Statement {
        sql: format!("{explain}{}", statement.sql),
        ..statement
    };
    let rows = db.query_all_raw(explained).await.unwrap();
    rows.iter()
        .map(|row| match backend {
            DbBackend::Postgres => row.try_get_by_index::<String>(0).unwrap(),
            _ => row.try_get::<String>("", "detail").unwrap(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_page_of_a_group_reads_the_groups_index_among_100_000_deployments() {
    for (backend, db) in databases().await {
        seed(&db).await;
        let group = GroupName::parse("group", "projects/p42/groups/g420").unwrap();
        for after in [
            None,
            Some("projects/p42/groups/g420/deployments/d42050".to_owned()),
        ] {
            let query = DeploymentQuery {
                group: group.clone(),
                state: None,
                scope: None,
                show_dropped: false,
                page: PageRequest { after, limit: 50 },
            };
            let plan = plan(&db, list_statement(&query, db.get_database_backend())).await;
            assert!(plan.contains("deployments_group_idx"), "{backend}: {plan}");
            let (scan, sort) = match db.get_database_backend() {
                DbBackend::Postgres => ("Seq Scan", "Sort"),
                _ => ("SCAN deployments", "TEMP B-TREE"),
            };
            assert!(
                !plan.contains(scan),
                "{backend}: the table is scanned: {plan}"
            );
            assert!(
                !plan.contains(sort),
                "{backend}: the rows are sorted: {plan}"
            );
        }
    }
}
