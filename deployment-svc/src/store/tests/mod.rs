//! Storage tests on SQLite and (with `EYRIE_TEST_DATABASE_URL`) PostgreSQL, for issue 15, part 5:
//! request ids are scoped to their parent, and a retry never takes a deployment back.

mod request_ids;
mod retries;
mod scale;

use eyrie_platform::testing::{describe, test_databases};
use sea_orm::DatabaseConnection;

use super::{
    migration::Migrator,
    operations,
    resources::{ResourceStore, now},
};
use crate::domain::{
    names::{DeploymentName, GroupName, ProjectName, ScopeName},
    operation::Operation,
    resources::{
        DeploymentType, GroupBooks, KeyFields, NewDeployment, NewGroup, NewProject, NewScope,
        RequestMeta,
    },
    state::Action,
};

/// Every database a test runs on, migrated, with its name.
pub(crate) async fn databases() -> Vec<(&'static str, DatabaseConnection)> {
    let mut databases = Vec::new();
    for settings in test_databases() {
        let db = eyrie_platform::db::connect_and_migrate::<Migrator>(&settings)
            .await
            .unwrap_or_else(|err| panic!("{}: migrations failed: {err}", describe(&settings)));
        databases.push((describe(&settings), db));
    }
    databases
}

pub(crate) fn meta(request_id: &str) -> RequestMeta {
    RequestMeta {
        actor: "tokens/test".into(),
        request_id: Some(request_id.to_owned()).filter(|id| !id.is_empty()),
    }
}

/// Project `slug` with scope `dev` (drop allowed) and group `web` of generic applications.
pub(crate) async fn project(store: &ResourceStore, slug: &str) {
    let project = format!("projects/{slug}");
    store
        .create_project(
            &NewProject {
                name: ProjectName::parse("name", &project).unwrap(),
                display_name: slug.to_uppercase(),
                boundary: Default::default(),
            },
            &meta(""),
        )
        .await
        .unwrap();
    store
        .create_scope(
            &NewScope {
                name: ScopeName::parse("name", &format!("{project}/scopes/dev")).unwrap(),
                display_name: "Dev".into(),
                allow_drop: true,
            },
            &meta(""),
        )
        .await
        .unwrap();
    store
        .create_group(
            &NewGroup {
                name: GroupName::parse("name", &format!("{project}/groups/web")).unwrap(),
                display_name: "Web".into(),
                deployment_type: DeploymentType::None,
                books: GroupBooks::default().or_builtin(DeploymentType::None),
            },
            &meta(""),
        )
        .await
        .unwrap();
}

pub(crate) fn new_deployment(slug: &str) -> NewDeployment {
    let project = format!("projects/{slug}");
    NewDeployment {
        name: DeploymentName::parse("name", &format!("{project}/groups/web/deployments/shop"))
            .unwrap(),
        display_name: "Shop".into(),
        key_fields: KeyFields {
            image: "nginx:1.27".into(),
            scope: format!("{project}/scopes/dev"),
            ..KeyFields::default()
        },
    }
}

/// Starts a Deploy of `deployment`.
pub(super) async fn deploy(
    db: &DatabaseConnection,
    deployment: &str,
    request_id: Option<&str>,
) -> Operation {
    let (operation, created) = operations::start(
        db,
        deployment,
        Action::Deploy,
        true,
        "tokens/test",
        request_id,
        None,
        None,
        None,
        now(),
    )
    .await
    .unwrap();
    assert!(created);
    operation
}
