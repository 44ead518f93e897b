//! Projects, scopes and clusters: create, get, list, pagination and request ids.

use eyrie_proto::v1 as pb;
use tonic::Code;

use crate::harness::{ACTOR, DEV, EU, PROJECT, US, as_admin, assert_refused, each_service, seed};

fn project_request(id: &str, request_id: &str) -> pb::CreateProjectRequest {
    pb::CreateProjectRequest {
        project_id: id.into(),
        project: Some(pb::Project {
            display_name: format!("Project {id}"),
            ..Default::default()
        }),
        request_id: request_id.into(),
    }
}

#[tokio::test]
async fn projects_scopes_and_clusters_are_created_read_and_listed() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let project = client
            .get_project(pb::GetProjectRequest {
                name: PROJECT.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (project.slug.as_str(), project.display_name.as_str()),
            ("acme", "Acme"),
            "{backend}"
        );
        assert!(project.create_time.is_some());

        let scope = client
            .get_scope(pb::GetScopeRequest { name: DEV.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (scope.slug.as_str(), scope.allow_drop),
            ("dev", true),
            "{backend}"
        );
        let scopes = client
            .list_scopes(pb::ListScopesRequest {
                parent: PROJECT.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<_> = scopes.scopes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [DEV, "projects/acme/scopes/production"], "{backend}");
        assert!(!scopes.scopes[1].allow_drop);
        assert!(scopes.next_page_token.is_empty());

        let us = client
            .get_cluster(pb::GetClusterRequest { name: US.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            us.connection,
            Some(pb::cluster::Connection::Kubernetes(
                pb::KubernetesConnection {
                    kubeconfig_path: "/etc/eyrie/us.kubeconfig".into(),
                    context: "us-east".into(),
                    in_cluster: false,
                }
            )),
            "{backend}"
        );
        let clusters = client
            .list_clusters(pb::ListClustersRequest {
                parent: PROJECT.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .clusters;
        assert_eq!(clusters.len(), 2, "{backend}");
        assert_eq!(clusters[0].name, EU);
        assert!(matches!(
            clusters[0].connection,
            Some(pb::cluster::Connection::Directory(_))
        ));
    }
}

#[tokio::test]
async fn a_simulated_cluster_stays_marked_simulated() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        let simulated = pb::cluster::Connection::Directory(pb::DirectoryConnection {
            path: "/var/lib/eyrie/sample".into(),
            simulated: true,
        });
        let created = client
            .create_cluster(as_admin(pb::CreateClusterRequest {
                parent: PROJECT.into(),
                cluster_id: "sample".into(),
                cluster: Some(pb::Cluster {
                    display_name: "Sample".into(),
                    connection: Some(simulated.clone()),
                    ..Default::default()
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.connection, Some(simulated.clone()), "{backend}");
        let read = client
            .get_cluster(pb::GetClusterRequest {
                name: created.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.connection, Some(simulated), "{backend}");
        // The other directory cluster is a plain one.
        let eu = client
            .get_cluster(pb::GetClusterRequest { name: EU.into() })
            .await
            .unwrap()
            .into_inner();
        assert!(
            matches!(
                eu.connection,
                Some(pb::cluster::Connection::Directory(
                    pb::DirectoryConnection {
                        simulated: false,
                        ..
                    }
                ))
            ),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn unknown_names_are_not_found_and_duplicates_already_exist() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;

        let missing = client
            .get_project(pb::GetProjectRequest {
                name: "projects/nope".into(),
            })
            .await;
        assert_refused(missing, Code::NotFound, "", backend);
        let missing = client
            .get_cluster(pb::GetClusterRequest {
                name: "projects/acme/clusters/nope".into(),
            })
            .await;
        assert_refused(missing, Code::NotFound, "", backend);
        let malformed = client
            .get_scope(pb::GetScopeRequest {
                name: "projects/acme/clusters/eu".into(),
            })
            .await;
        assert_refused(malformed, Code::InvalidArgument, "name", backend);

        let duplicate = client
            .create_project(as_admin(project_request("acme", "")))
            .await;
        assert_refused(duplicate, Code::AlreadyExists, "", backend);
        let orphan = client
            .create_scope(pb::CreateScopeRequest {
                parent: "projects/nope".into(),
                scope_id: "dev".into(),
                scope: Some(pb::Scope {
                    display_name: "Dev".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await;
        assert_refused(orphan, Code::NotFound, "", backend);
        let orphan_list = client
            .list_clusters(pb::ListClustersRequest {
                parent: "projects/nope".into(),
                ..Default::default()
            })
            .await;
        assert_refused(orphan_list, Code::NotFound, "", backend);
    }
}

#[tokio::test]
async fn projects_page_in_id_order_with_tokens_bound_to_their_list() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        for id in ["e", "b", "d", "a", "c"] {
            client
                .create_project(as_admin(project_request(id, "")))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = client
                .list_projects(pb::ListProjectsRequest {
                    page_size: 2,
                    page_token: token.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            assert!(page.projects.len() <= 2);
            seen.extend(page.projects.into_iter().map(|p| p.slug));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"], "{backend}");
        assert_eq!(pages, 3, "{backend}");

        let first = client
            .list_projects(pb::ListProjectsRequest {
                page_size: 1,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let foreign = client
            .list_scopes(pb::ListScopesRequest {
                parent: "projects/a".into(),
                page_size: 1,
                page_token: first.next_page_token,
            })
            .await;
        assert_refused(foreign, Code::InvalidArgument, "page_token", backend);
        let garbage = client
            .list_projects(pb::ListProjectsRequest {
                page_size: 1,
                page_token: "garbage".into(),
            })
            .await;
        assert_refused(garbage, Code::InvalidArgument, "page_token", backend);
        let negative = client
            .list_projects(pb::ListProjectsRequest {
                page_size: -1,
                page_token: String::new(),
            })
            .await;
        assert_refused(negative, Code::InvalidArgument, "page_size", backend);
    }
}

#[tokio::test]
async fn a_retried_request_id_returns_the_first_result() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        let first = client
            .create_project(as_admin(project_request("acme", "req-1")))
            .await
            .unwrap()
            .into_inner();
        let retry = client
            .create_project(as_admin(project_request("acme", "req-1")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first, retry, "{backend}");

        let reused = client
            .create_project(as_admin(project_request("other", "req-1")))
            .await;
        assert_refused(reused, Code::InvalidArgument, "request_id", backend);
        let without_id = client
            .create_project(as_admin(project_request("acme", "")))
            .await;
        assert_refused(without_id, Code::AlreadyExists, "", backend);

        // Request ids belong to one RPC: the same id on CreateScope is a new request.
        let scope = client
            .create_scope(as_admin(pb::CreateScopeRequest {
                parent: PROJECT.into(),
                scope_id: "dev".into(),
                scope: Some(pb::Scope {
                    display_name: "Dev".into(),
                    ..Default::default()
                }),
                request_id: "req-1".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(scope.name, DEV, "{backend} ({ACTOR})");
    }
}

fn boundary_update(
    namespaces: &[&str],
    cluster_kinds: &[&str],
    etag: &str,
) -> pb::UpdateProjectRequest {
    pb::UpdateProjectRequest {
        project: Some(pb::Project {
            name: PROJECT.into(),
            boundary: Some(pb::ProjectBoundary {
                namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
                cluster_kinds: cluster_kinds.iter().map(|k| k.to_string()).collect(),
                hosts: vec!["10.20.0.0/16".into()],
            }),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["boundary".into()],
        }),
    }
}

#[tokio::test]
async fn a_project_boundary_is_set_checked_and_guarded_by_its_etag() {
    for mut running in each_service().await {
        let backend = running.backend;
        let client = &mut running.client;
        seed(client).await;
        let before = client
            .get_project(pb::GetProjectRequest {
                name: PROJECT.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            before.boundary,
            Some(pb::ProjectBoundary::default()),
            "{backend}"
        );

        let updated = client
            .update_project(boundary_update(
                &["shared-*"],
                &["rbac.authorization.k8s.io/ClusterRole"],
                &before.etag,
            ))
            .await
            .unwrap()
            .into_inner();
        let boundary = updated.boundary.clone().unwrap();
        assert_eq!(boundary.namespaces, ["shared-*"], "{backend}");
        assert_eq!(
            boundary.cluster_kinds,
            ["rbac.authorization.k8s.io/ClusterRole"],
            "{backend}"
        );
        assert_eq!(boundary.hosts, ["10.20.0.0/16"], "{backend}");
        assert_eq!(updated.display_name, before.display_name, "{backend}");
        assert_ne!(updated.etag, before.etag, "{backend}");
        let read = client
            .get_project(pb::GetProjectRequest {
                name: PROJECT.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, updated, "{backend}");

        // The etag read before the change is stale now.
        assert_refused(
            client
                .update_project(boundary_update(&[], &[], &before.etag))
                .await,
            Code::Aborted,
            "",
            backend,
        );
        // Bad patterns are named and change nothing.
        assert_refused(
            client
                .update_project(boundary_update(&["Kube System"], &[], ""))
                .await,
            Code::InvalidArgument,
            "project.boundary.namespaces[0]",
            backend,
        );
        assert_refused(
            client
                .update_project(boundary_update(&[], &["ClusterRole"], ""))
                .await,
            Code::InvalidArgument,
            "project.boundary.cluster_kinds[0]",
            backend,
        );
        let mut missing = boundary_update(&[], &[], "");
        missing.project.as_mut().unwrap().name = "projects/nobody".into();
        assert_refused(
            client.update_project(missing).await,
            Code::NotFound,
            "",
            backend,
        );
        let after = client
            .get_project(pb::GetProjectRequest {
                name: PROJECT.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            after, updated,
            "{backend}: a refused update changed the project"
        );
    }
}
