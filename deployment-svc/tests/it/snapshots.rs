//! The snapshot deployment-svc sends with StartJob lists the namespaces of the project's other
//! deployments that are not dropped (where the job may read, e.g. a PGO deployment's Secret for
//! an Odoo deployment), and no other project's. The runner keeps the snapshot with the job, so
//! its GetJob shows what was sent.

use eyrie_proto::v1::{
    self as pb, deployment_service_client::DeploymentServiceClient,
    job_service_client::JobServiceClient,
};
use eyrie_tests::journey::Controllers;
use tonic::transport::Channel;

use crate::{
    harness::{as_admin, create_group},
    lifecycle::{SHOP, create, ended, start_deploy, suites},
};

/// Creates deployment `id` in group `group`, scope `dev` of `project`, on its cluster `c1`.
async fn create_in(
    client: &mut DeploymentServiceClient<Channel>,
    project: &str,
    group: &str,
    id: &str,
    image: &str,
) {
    client
        .create_deployment(as_admin(pb::CreateDeploymentRequest {
            parent: format!("projects/{project}/groups/{group}"),
            deployment_id: id.into(),
            deployment: Some(pb::Deployment {
                display_name: id.into(),
                scope: format!("projects/{project}/scopes/dev"),
                clusters: vec![format!("projects/{project}/clusters/c1")],
                image: image.into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
}

/// Project `other` with scope `dev`, cluster `c1`, group `apps` and deployment `shop`.
async fn other_project(client: &mut DeploymentServiceClient<Channel>, root: &std::path::Path) {
    client
        .create_project(as_admin(pb::CreateProjectRequest {
            project_id: "other".into(),
            project: Some(pb::Project {
                display_name: "Other".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    client
        .create_scope(as_admin(pb::CreateScopeRequest {
            parent: "projects/other".into(),
            scope_id: "dev".into(),
            scope: Some(pb::Scope {
                display_name: "Dev".into(),
                allow_drop: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    client
        .create_cluster(as_admin(pb::CreateClusterRequest {
            parent: "projects/other".into(),
            cluster_id: "c1".into(),
            cluster: Some(pb::Cluster {
                display_name: "Local".into(),
                connection: Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        path: root.join("c1").display().to_string(),
                        simulated: false,
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    create_group(client, "projects/other", "apps", pb::DeploymentType::None).await;
    create_in(client, "other", "apps", "shop", "nginx:1.27").await;
}

/// The snapshot book-runner-svc holds for job `name`.
async fn snapshot_of(jobs: &mut JobServiceClient<Channel>, name: &str) -> pb::DeploymentSnapshot {
    jobs.get_job(as_admin(pb::GetJobRequest { name: name.into() }))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap()
}

#[tokio::test]
async fn a_job_s_snapshot_lists_the_namespaces_of_its_project_s_other_live_deployments() {
    for (backend, mut suite) in suites().await {
        let _controllers = Controllers::start(suite.root.path());
        let mut jobs = JobServiceClient::new(suite.runner.channel().await.unwrap());
        let client = &mut suite.client;
        // acme: shop and api in group apps, db in a pgo group, old dropped below.
        create(client, suite.root.path()).await;
        create_group(
            client,
            "projects/acme",
            "databases",
            pb::DeploymentType::Pgo,
        )
        .await;
        create_in(client, "acme", "databases", "db", "").await;
        create_in(client, "acme", "apps", "old", "nginx:1.27").await;
        other_project(client, suite.root.path()).await;
        let dropped = client
            .drop_deployment(as_admin(pb::DropDeploymentRequest {
                name: "projects/acme/groups/apps/deployments/old".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let dropped = ended(client, &dropped.name).await;
        assert_eq!(
            dropped.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            dropped.message
        );
        // A job of the drop itself still saw old's siblings, and not old's own namespace.
        let drop_snapshot = snapshot_of(&mut jobs, &dropped.jobs[0]).await;
        assert_eq!(
            drop_snapshot.project_namespaces,
            ["acme-api", "acme-db", "acme-shop"],
            "{backend}"
        );

        let deploy = start_deploy(client, SHOP).await;
        let deploy = ended(client, &deploy.name).await;
        assert_eq!(
            deploy.status(),
            pb::OperationStatus::Succeeded,
            "{backend}: {}",
            deploy.message
        );
        for job in &deploy.jobs {
            let snapshot = snapshot_of(&mut jobs, job).await;
            assert_eq!(snapshot.namespace, "acme-shop", "{backend}");
            assert_eq!(
                snapshot.project_namespaces,
                ["acme-api", "acme-db"],
                "{backend}: {job}: not its own, not the dropped one, not project other's"
            );
        }
    }
}
