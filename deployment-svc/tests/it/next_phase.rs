//! A next phase whose job cannot start ends its operation, failed with the reason, instead of
//! being retried forever with the deployment "in progress" (issue #15, part 8).

use eyrie_proto::v1::{
    self as pb, book_service_client::BookServiceClient,
    deployment_service_client::DeploymentServiceClient,
};
use tonic::transport::Channel;

use crate::{
    harness::as_admin,
    lifecycle::{SHOP, create, ended, start_deploy, state, suites},
};

/// An initialize book that waits until the test writes the ConfigMap `gate`.
const GATED_INITIALIZE: &str = "\
name: gated-initialize
type: none
steps:
  - name: Wait for the gate
    uses: k8s.wait
    with:
      api_version: v1
      kind: ConfigMap
      name: gate
      namespace: \"{{ namespace }}\"
      condition: exists
";

/// A deploy book that requires parameter `release`.
const DEPLOY_NEEDING_RELEASE: &str = "\
name: release-deploy
type: none
parameters:
  - name: release
    required: true
steps:
  - name: Apply the configuration
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: shop
          namespace: {{ namespace }}
";

const GATE: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gate\n  namespace: acme-shop\n";

/// Sets the parameters of deployment `name` to `parameters`. Without an etag: the operation's
/// jobs start in the background and change the deployment meanwhile, and a change of other
/// fields is no conflict for this one.
async fn set_parameters(
    client: &mut DeploymentServiceClient<Channel>,
    name: &str,
    parameters: &[(&str, &str)],
) {
    client
        .update_deployment(as_admin(pb::UpdateDeploymentRequest {
            deployment: Some(pb::Deployment {
                name: name.into(),
                parameters: parameters
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["parameters".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deploy_book_that_cannot_start_after_initialize_fails_the_operation_with_the_reason() {
    for (backend, mut suite) in suites().await {
        let mut books = BookServiceClient::new(suite.runner.channel().await.unwrap());
        for (id, text) in [
            ("gated-initialize", GATED_INITIALIZE),
            ("release-deploy", DEPLOY_NEEDING_RELEASE),
        ] {
            books
                .create_book(pb::CreateBookRequest {
                    parent: "projects/acme".into(),
                    book_id: id.into(),
                    content: Some(pb::create_book_request::Content::Source(pb::BookSource {
                        format: pb::BookFormat::Yaml.into(),
                        text: text.into(),
                    })),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let client = &mut suite.client;
        create(client, suite.root.path()).await;
        let group = client
            .get_deployment_group(as_admin(pb::GetDeploymentGroupRequest {
                name: "projects/acme/groups/apps".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        client
            .update_deployment_group(as_admin(pb::UpdateDeploymentGroupRequest {
                deployment_group: Some(pb::DeploymentGroup {
                    initialize_book: "projects/acme/books/gated-initialize".into(),
                    deploy_book: "projects/acme/books/release-deploy".into(),
                    ..group
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["initialize_book".into(), "deploy_book".into()],
                }),
                ..Default::default()
            }))
            .await
            .unwrap();
        set_parameters(client, SHOP, &[("release", "1")]).await;

        // Deploy is accepted (the deployment has what both books need); while initialize
        // waits, the parameter the deploy book requires goes away.
        let deploy = start_deploy(client, SHOP).await;
        set_parameters(client, SHOP, &[]).await;
        let gate = suite.root.path().join("c1/acme-shop/configmap/gate.yaml");
        std::fs::create_dir_all(gate.parent().unwrap()).unwrap();
        std::fs::write(&gate, GATE).unwrap();

        let failed = ended(client, &deploy.name).await;
        assert_eq!(
            failed.status(),
            pb::OperationStatus::Failed,
            "{backend}: {failed:?}"
        );
        for named in [
            "deploy",
            "projects/acme/books/release-deploy",
            "\"release\"",
        ] {
            assert!(
                failed.message.contains(named),
                "{backend}: the reason names {named}: {}",
                failed.message
            );
        }
        assert_eq!(
            failed.jobs.len(),
            1,
            "{backend}: initialize ran, deploy never started"
        );
        let deployment = state(client, SHOP).await;
        assert_eq!(
            deployment.state(),
            pb::DeploymentState::Deploy,
            "{backend}: initialize succeeded, deploy was entered"
        );
        assert_eq!(
            deployment.running_job_count, 0,
            "{backend}: no badge left on"
        );
        assert_eq!(
            deployment.last_operation.map(|op| op.status()),
            Some(pb::OperationStatus::Failed),
            "{backend}"
        );

        // Not stuck: once the parameter is back, Deploy runs again and succeeds.
        set_parameters(client, SHOP, &[("release", "2")]).await;
        let again = start_deploy(client, SHOP).await;
        let again = ended(client, &again.name).await;
        assert_eq!(
            again.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            again.message
        );
        assert_eq!(
            again.jobs.len(),
            1,
            "{backend}: from state deploy, deploy only"
        );
        assert!(
            suite
                .root
                .path()
                .join("c1/acme-shop/configmap/shop.yaml")
                .exists(),
            "{backend}"
        );
    }
}
