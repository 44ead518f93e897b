//! Roles hold on every path (issue 15, part 5), through the gateway with every service a separate
//! process: a retry needs the role of the job's action and never takes a deployment back, and
//! one tenant's request id neither collides with nor reveals another tenant's resource.

use eyrie_proto::v1::{self as pb, book_service_client::BookServiceClient};
use eyrie_tests::{
    Suite,
    journey::{Controllers, Gateway},
};
use tonic::{Code, transport::Channel};

const SHOP: &str = "projects/acme/groups/web/deployments/shop";
const BROKEN: &str = "projects/acme/books/broken";

/// A book that fails at once: it patches a Deployment that does not exist, in the shop's own
/// namespace (written out: the book prints no value).
const BROKEN_BOOK: &str = "name: broken\ntype: none\nsteps:\n  - name: Scale a missing workload\n    uses: k8s.patch\n    with: {api_version: apps/v1, kind: Deployment, name: missing, namespace: acme-shop, patch: '{\"spec\": {\"replicas\": 1}}'}\n";

/// A caller holding `role` on `project`, made by the global admin.
async fn caller(
    suite: &Suite,
    channel: &Channel,
    id: &str,
    project: &str,
    role: pb::Role,
) -> Gateway {
    let admin = Gateway::new(channel.clone(), suite.admin_token.clone());
    let secret = admin.clone().create_token(id, project, role).await.unwrap();
    admin.as_token(secret)
}

/// Sets the `initialize` and `drop` books of group `web` of acme (empty: the built-in one).
async fn set_books(admin: &mut Gateway, initialize: &str, drop: &str) {
    let request = admin.request(pb::UpdateDeploymentGroupRequest {
        deployment_group: Some(pb::DeploymentGroup {
            name: "projects/acme/groups/web".into(),
            initialize_book: initialize.into(),
            drop_book: drop.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["initialize_book".into(), "drop_book".into()],
        }),
        ..Default::default()
    });
    admin
        .deployments
        .update_deployment_group(request)
        .await
        .unwrap();
}

async fn operations_of(gateway: &mut Gateway, deployment: &str) -> Vec<pb::Operation> {
    let request = gateway.request(pb::ListOperationsRequest {
        parent: deployment.into(),
        ..Default::default()
    });
    let list = gateway.deployments.list_operations(request).await.unwrap();
    list.into_inner().operations
}

async fn retry(gateway: &mut Gateway, job: &str) -> Result<pb::Job, tonic::Status> {
    let request = gateway.request(pb::RetryJobRequest {
        name: job.into(),
        ..Default::default()
    });
    gateway
        .jobs
        .retry_job(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Runs `action` on the shop as `gateway` and waits for its operation to end.
async fn act(gateway: &mut Gateway, action: pb::OperationAction) -> pb::Operation {
    let started = match action {
        pb::OperationAction::Drop => {
            let request = gateway.request(pb::DropDeploymentRequest {
                name: SHOP.into(),
                ..Default::default()
            });
            gateway.deployments.drop_deployment(request).await
        }
        _ => {
            let request = gateway.request(pb::DeployDeploymentRequest {
                name: SHOP.into(),
                ..Default::default()
            });
            gateway.deployments.deploy_deployment(request).await
        }
    };
    let started = started.unwrap().into_inner();
    gateway.ended(&started.name).await.unwrap()
}

#[tokio::test]
async fn a_retry_needs_the_role_of_its_action_and_never_takes_a_deployment_back() {
    let suite = Suite::start().await.unwrap();
    let channel = suite.gateway_channel().await.unwrap();
    let mut admin = Gateway::new(channel.clone(), suite.admin_token.clone());
    let cluster = suite.clusters_dir().join("local");
    admin.create_shop("acme", "ACME", &cluster).await.unwrap();
    let mut lead = caller(&suite, &channel, "lead", "projects/acme", pb::Role::Admin).await;
    let mut ci = caller(&suite, &channel, "ci", "projects/acme", pb::Role::Deployer).await;
    let create_book = lead.request(pb::CreateBookRequest {
        parent: "projects/acme".into(),
        book_id: "broken".into(),
        content: Some(pb::create_book_request::Content::Source(pb::BookSource {
            format: pb::BookFormat::Yaml.into(),
            text: BROKEN_BOOK.into(),
        })),
        ..Default::default()
    });
    BookServiceClient::new(channel.clone())
        .create_book(create_book)
        .await
        .unwrap();
    set_books(&mut lead, BROKEN, BROKEN).await;

    // The first Deploy fails at initialize; fixed, the next one deploys the shop.
    let first = act(&mut ci, pb::OperationAction::Deploy).await;
    assert_eq!(first.status(), pb::OperationStatus::Failed, "{first:?}");
    let old_initialize = first.jobs[0].clone();
    set_books(&mut lead, "", BROKEN).await;
    let _controllers = Controllers::start(&cluster);
    let second = act(&mut ci, pb::OperationAction::Deploy).await;
    assert_eq!(
        second.status(),
        pb::OperationStatus::Succeeded,
        "{second:?}"
    );

    // Retrying the old initialize job would take the deployed shop back: refused, naming why.
    let refused = retry(&mut ci, &old_initialize).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains(&second.name) && refused.message().contains("latest"),
        "{}",
        refused.message()
    );
    let shop = ci.deployment(SHOP).await.unwrap();
    assert_eq!(shop.state(), pb::DeploymentState::Deploy);
    assert_eq!(
        operations_of(&mut ci, SHOP).await.len(),
        2,
        "nothing started"
    );

    // The Drop fails (its book is broken). A deployer may not retry it; an admin may.
    let dropped = act(&mut lead, pb::OperationAction::Drop).await;
    assert_eq!(dropped.status(), pb::OperationStatus::Failed, "{dropped:?}");
    let drop_job = dropped.jobs[0].clone();
    let refused = retry(&mut ci, &drop_job).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("admin role on projects/acme"),
        "{}",
        refused.message()
    );
    assert_eq!(
        operations_of(&mut ci, SHOP).await.len(),
        3,
        "nothing started"
    );

    let retried = retry(&mut lead, &drop_job).await.unwrap();
    let again = lead.ended(&retried.operation).await.unwrap();
    assert_eq!(again.action(), pb::OperationAction::Drop);
    assert_eq!(again.retry_of, dropped.name);
    assert_eq!(operations_of(&mut ci, SHOP).await.len(), 4);
}

#[tokio::test]
async fn two_projects_using_the_same_request_id_each_get_their_own_resources() {
    let suite = Suite::start().await.unwrap();
    let channel = suite.gateway_channel().await.unwrap();
    let mut admin = Gateway::new(channel.clone(), suite.admin_token.clone());
    let mut tenants = Vec::new();
    for project in ["acme", "beta"] {
        let folder = suite.clusters_dir().join(project);
        admin.create_shop(project, project, &folder).await.unwrap();
        let parent = format!("projects/{project}");
        tenants.push((
            parent.clone(),
            caller(&suite, &channel, project, &parent, pb::Role::Admin).await,
        ));
    }

    for (project, tenant) in &mut tenants {
        let create = || pb::CreateDeploymentRequest {
            parent: format!("{project}/groups/web"),
            deployment_id: "site".into(),
            deployment: Some(pb::Deployment {
                display_name: "Site".into(),
                scope: format!("{project}/scopes/dev"),
                clusters: vec![format!("{project}/clusters/local")],
                image: "nginx:1.27".into(),
                ..Default::default()
            }),
            request_id: "create-site".into(),
        };
        let site = tenant
            .deployments
            .create_deployment(tenant.request(create()))
            .await
            .unwrap_or_else(|status| panic!("{project}: {status:?}"))
            .into_inner();
        assert_eq!(site.name, format!("{project}/groups/web/deployments/site"));
        let replayed = tenant
            .deployments
            .create_deployment(tenant.request(create()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            replayed, site,
            "{project}: a retry finds its own deployment"
        );

        let deploy = || pb::DeployDeploymentRequest {
            name: site.name.clone(),
            request_id: "deploy-site".into(),
            ..Default::default()
        };
        let operation = tenant
            .deployments
            .deploy_deployment(tenant.request(deploy()))
            .await
            .unwrap_or_else(|status| panic!("{project}: {status:?}"))
            .into_inner();
        assert!(
            operation
                .name
                .starts_with(&format!("{}/operations/", site.name)),
            "{project}: {}",
            operation.name
        );
        let replayed = tenant
            .deployments
            .deploy_deployment(tenant.request(deploy()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replayed.name, operation.name, "{project}");
    }
}
