//! A Deploy lacking required parameters names every one of them in one refusal, across all the
//! phases it would run, and starts nothing (issue #17, "errors that teach").

use eyrie_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::{
    harness::{as_admin, create_group, violated_fields},
    lifecycle::{create, state, suites},
};

const ODOO: &str = "projects/acme/groups/web/deployments/erp";

#[tokio::test]
async fn a_deploy_without_its_required_parameters_names_them_all_and_changes_nothing() {
    for (backend, mut suite) in suites().await {
        let client = &mut suite.client;
        create(client, suite.root.path()).await;
        create_group(client, "projects/acme", "web", pb::DeploymentType::Odoo).await;
        client
            .create_deployment(as_admin(pb::CreateDeploymentRequest {
                parent: "projects/acme/groups/web".into(),
                deployment_id: "erp".into(),
                deployment: Some(pb::Deployment {
                    display_name: "ERP".into(),
                    scope: "projects/acme/scopes/dev".into(),
                    clusters: vec!["projects/acme/clusters/c1".into()],
                    repository: "git@github.com:acme/erp.git".into(),
                    branch: "17.0".into(),
                    image: "odoo:17.0".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .unwrap();

        let refused = client
            .deploy_deployment(as_admin(pb::DeployDeploymentRequest {
                name: ODOO.into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "{backend}: {refused:?}"
        );
        // Initialize's first, then what only deploy adds; each once.
        assert_eq!(
            violated_fields(&refused),
            [
                "deployment.parameters.db_host",
                "deployment.parameters.db_user",
                "deployment.parameters.db_password_secret",
                "deployment.parameters.host",
            ],
            "{backend}: {refused:?}"
        );
        let bad_request = refused.get_details_bad_request().unwrap();
        let db_host = &bad_request.field_violations[0].description;
        assert!(
            db_host.starts_with(
                "required by books/odoo-initialize and books/odoo-deploy (PostgreSQL host"
            ),
            "{backend}: {db_host}"
        );
        let host = &bad_request.field_violations[3].description;
        assert!(
            host.starts_with("required by books/odoo-deploy (Public host name of the Ingress"),
            "{backend}: {host}"
        );
        let reason = refused.get_details_precondition_failure().unwrap();
        assert_eq!(
            reason.violations[0].r#type, "MISSING_PARAMETER",
            "{backend}"
        );
        assert_eq!(reason.violations[0].subject, ODOO, "{backend}");
        assert!(
            refused
                .message()
                .contains("db_host, db_user, db_password_secret, host"),
            "{backend}: {}",
            refused.message()
        );

        // Nothing started: no operation, still a draft.
        let operations = client
            .list_operations(as_admin(pb::ListOperationsRequest {
                parent: ODOO.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .operations;
        assert!(operations.is_empty(), "{backend}: {operations:?}");
        assert_eq!(
            state(client, ODOO).await.state(),
            pb::DeploymentState::Draft,
            "{backend}"
        );
    }
}
