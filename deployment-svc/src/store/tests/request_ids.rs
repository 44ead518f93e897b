//! One tenant's request id never meets another's: ids are scoped to the parent of what they act on.

use eyrie_platform::testing::{describe, test_databases};

use super::{databases, deploy, meta, new_deployment, project};
use crate::{
    domain::{
        names::{DeploymentName, ScopeName},
        resources::{NewDeployment, NewScope},
        state::Action,
    },
    store::{
        migration::Migrator,
        operations,
        resources::{ResourceStore, now},
    },
};

#[tokio::test]
async fn two_projects_using_the_same_request_id_each_get_their_own_resources() {
    for (backend, db) in databases().await {
        let store = ResourceStore::new(db);
        project(&store, "acme").await;
        project(&store, "beta").await;

        let mut created = Vec::new();
        for slug in ["acme", "beta"] {
            let scope = NewScope {
                name: ScopeName::parse("name", &format!("projects/{slug}/scopes/prod")).unwrap(),
                display_name: "Prod".into(),
                allow_drop: false,
            };
            let first = store.create_scope(&scope, &meta("same-id")).await;
            let first = first.unwrap_or_else(|err| panic!("{backend}, {slug}: {err}"));
            assert_eq!(first.name, scope.name, "{backend}");
            let deployment = new_deployment(slug);
            let shop = store
                .create_deployment(&deployment, &meta("same-id"))
                .await
                .unwrap_or_else(|err| panic!("{backend}, {slug}: {err}"));
            assert_eq!(shop.name, deployment.name, "{backend}: its own deployment");
            created.push(shop);
        }
        // A retry in each project still finds that project's own deployment.
        for shop in &created {
            let project = &shop.name.project;
            let retried = store
                .create_deployment(&new_deployment(project), &meta("same-id"))
                .await
                .unwrap();
            assert_eq!(&retried, shop, "{backend}");
        }
        // Within one parent, the id still belongs to its first request, and the refusal names
        // only a resource of that parent.
        let other = NewDeployment {
            name: DeploymentName::parse("name", "projects/beta/groups/web/deployments/blog")
                .unwrap(),
            ..new_deployment("beta")
        };
        let refused = store
            .create_deployment(&other, &meta("same-id"))
            .await
            .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("request_id") && message.contains("projects/beta/groups/web"),
            "{backend}: {message}"
        );
        assert!(!message.contains("acme"), "{backend}: {message}");
    }
}

#[tokio::test]
async fn two_deployments_using_the_same_request_id_each_get_their_own_operation() {
    for (backend, db) in databases().await {
        let store = ResourceStore::new(db.clone());
        let mut operations = Vec::new();
        for slug in ["acme", "beta"] {
            project(&store, slug).await;
            let shop = store
                .create_deployment(&new_deployment(slug), &meta(""))
                .await
                .unwrap()
                .name
                .to_string();
            let operation = deploy(&db, &shop, Some("deploy-1")).await;
            assert_eq!(operation.deployment, shop, "{backend}: its own operation");
            operations.push(operation);
        }
        for operation in &operations {
            let (replayed, created) = operations::start(
                &db,
                &operation.deployment,
                Action::Deploy,
                true,
                "tokens/test",
                Some("deploy-1"),
                None,
                None,
                None,
                now(),
            )
            .await
            .unwrap();
            assert!(!created, "{backend}");
            assert_eq!(&replayed, operation, "{backend}");
        }
    }
}

#[tokio::test]
async fn the_upgrade_keeps_every_request_id_and_operation_and_scopes_them() {
    use sea_orm::{
        ActiveValue::Set,
        ConnectionTrait as _, EntityTrait as _, Statement,
        sea_query::{Alias, Query},
    };

    use crate::store::entity::operation;
    use sea_orm_migration::MigratorTrait as _;

    const SHOP: &str = "projects/acme/groups/web/deployments/shop";
    for settings in test_databases() {
        let backend = describe(&settings);
        let db = eyrie_platform::db::connect(&settings).await.unwrap();
        // The schema before request ids were scoped, holding what a running installation has.
        Migrator::up(&db, Some(3)).await.unwrap();
        for (method, request_id, resource) in [
            ("CreateProject", "r1", "projects/acme"),
            ("CreateDeployment", "r1", SHOP),
        ] {
            let insert = Query::insert()
                .into_table(Alias::new("request_ids"))
                .columns(["method", "request_id", "resource", "create_time"].map(Alias::new))
                .values_panic([
                    method.into(),
                    request_id.into(),
                    resource.into(),
                    now().into(),
                ])
                .to_owned();
            db.execute(&insert).await.unwrap();
        }
        // A running operation as the schema of then held it (no column added since).
        let insert = Query::insert()
            .into_table(Alias::new("operations"))
            .columns(
                [
                    "name",
                    "deployment",
                    "action",
                    "status",
                    "actor",
                    "request_id",
                    "phases",
                    "phase_index",
                    "jobs",
                    "message",
                    "create_time",
                ]
                .map(Alias::new),
            )
            .values_panic([
                format!("{SHOP}/operations/o1").into(),
                SHOP.into(),
                "deploy".into(),
                "running".into(),
                "tokens/test".into(),
                "deploy-1".into(),
                "[\"deploy\"]".into(),
                0.into(),
                "[]".into(),
                "".into(),
                now().into(),
            ])
            .to_owned();
        db.execute(&insert).await.unwrap();

        Migrator::up(&db, None).await.unwrap();
        let running = |name: &str, deployment: &str, request_id: &str| operation::ActiveModel {
            name: Set(format!("{deployment}/operations/{name}")),
            deployment: Set(deployment.to_owned()),
            action: Set("deploy".into()),
            status: Set("running".into()),
            actor: Set("tokens/test".into()),
            request_id: Set(Some(request_id.to_owned())),
            phases: Set("[\"deploy\"]".into()),
            phase_index: Set(0),
            jobs: Set("[]".into()),
            message: Set(String::new()),
            rollback_to_version: Set(None),
            retry_of: Set(None),
            resume_job: Set(None),
            create_time: Set(now()),
            end_time: Set(None),
            unexpected_events: Set("[]".into()),
            trace_parent: Set(None),
        };

        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT method, parent, request_id, resource FROM request_ids ORDER BY method",
            ))
            .await
            .unwrap();
        let kept: Vec<(String, String)> = rows
            .iter()
            .map(|row| {
                (
                    row.try_get::<String>("", "method").unwrap(),
                    row.try_get::<String>("", "parent").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "CreateDeployment".to_owned(),
                    "projects/acme/groups/web".to_owned()
                ),
                ("CreateProject".to_owned(), String::new()),
            ],
            "{backend}"
        );
        assert_eq!(
            operations::get(&db, &format!("{SHOP}/operations/o1"))
                .await
                .unwrap()
                .map(|operation| operation.request_id),
            Some(Some("deploy-1".to_owned())),
            "{backend}"
        );
        // The same id on another deployment is another request; on the same one it is not, and
        // one operation at a time per deployment still holds.
        let elsewhere = "projects/beta/groups/web/deployments/shop";
        operation::Entity::insert(running("o2", elsewhere, "deploy-1"))
            .exec_without_returning(&db)
            .await
            .unwrap_or_else(|err| panic!("{backend}: {err}"));
        let ended = operation::ActiveModel {
            status: Set("failed".into()),
            ..running("o3", SHOP, "deploy-1")
        };
        for (refused, why) in [
            (ended, "the request id of o1"),
            (
                running("o4", SHOP, "deploy-2"),
                "a second running operation",
            ),
        ] {
            let outcome = operation::Entity::insert(refused)
                .exec_without_returning(&db)
                .await;
            assert!(outcome.is_err(), "{backend}: {why} was accepted");
        }
    }
}
