//! Request shapes and error paths of the kubernetes driver, against kube's mock service.

use http::{Request, Response};
use kube::client::Body;
use serde_json::json;
use tower_test::mock;

use super::*;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn cluster() -> (KubernetesCluster, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        KubernetesCluster::with_client(Client::new(service, "default")),
        handle,
    )
}

fn respond(handle_request: mock::SendResponse<Response<Body>>, code: u16, body: serde_json::Value) {
    let response = Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    handle_request.send_response(response);
}

fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

/// Answers the discovery of apps/v1 deployments.
async fn discovery(handle: &mut Handle) {
    let (request, send) = handle.next_request().await.expect("discovery request");
    assert_eq!(request.uri().path(), "/apis/apps/v1");
    respond(
        send,
        200,
        json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
        ]}),
    );
}

fn deployment() -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 1}})
}

fn stored(resource_version: &str) -> serde_json::Value {
    let mut object = deployment();
    object["metadata"]["resourceVersion"] = json!(resource_version);
    object
}

#[tokio::test]
async fn apply_is_a_server_side_apply_by_eyrie_and_reports_what_changed() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        discovery(&mut handle).await;
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::GET);
        respond(
            send,
            404,
            status(404, "NotFound", "deployments.apps \"web\" not found"),
        );

        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::PATCH);
        assert_eq!(
            request.uri().path(),
            "/apis/apps/v1/namespaces/shop/deployments/web"
        );
        let query = request.uri().query().unwrap_or_default();
        assert!(query.contains("fieldManager=eyrie"), "{query}");
        assert!(
            query.contains("force=true"),
            "the step asked to force: {query}"
        );
        assert_eq!(
            request.headers()["content-type"],
            "application/apply-patch+yaml"
        );
        respond(send, 200, stored("7"));

        // Second apply: same resourceVersion after the patch, so nothing changed.
        let (_, send) = handle.next_request().await.unwrap();
        respond(send, 200, stored("7"));
        let (request, send) = handle.next_request().await.unwrap();
        assert!(!request.uri().query().unwrap_or_default().contains("force"));
        respond(send, 200, stored("7"));
    });
    assert_eq!(
        cluster.apply(&deployment(), true).await.unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(
        cluster.apply(&deployment(), false).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_field_manager_conflict_names_the_other_manager_and_field() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        discovery(&mut handle).await;
        let (_, send) = handle.next_request().await.unwrap();
        respond(send, 200, stored("3"));
        let (_, send) = handle.next_request().await.unwrap();
        respond(
            send,
            409,
            status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            ),
        );
    });
    let err = cluster.apply(&deployment(), false).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err,
        ClusterError::Conflict {
            object: "Deployment shop/web".into(),
            manager: "kubectl-edit".into(),
            field: ".spec.replicas".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "Deployment shop/web: conflict with field manager \"kubectl-edit\" on .spec.replicas"
    );
}

#[tokio::test]
async fn refusals_carry_the_reason_and_message_of_the_server() {
    let (cluster, mut handle) = cluster();
    let message = "deployments.apps \"web\" is forbidden: User \"nobody\" cannot get resource \"deployments\"";
    let server = tokio::spawn(async move {
        discovery(&mut handle).await;
        let (_, send) = handle.next_request().await.unwrap();
        respond(send, 403, status(403, "Forbidden", message));
    });
    let target = ObjectRef::of_manifest(&deployment()).unwrap();
    let err = cluster.get(&target).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(err.to_string(), format!("Forbidden: {message}"));
}

#[tokio::test]
async fn deletes_propagate_in_the_background_and_absence_is_success_and_discovery_is_cached() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        discovery(&mut handle).await;
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::DELETE);
        let body = http_body_util::BodyExt::collect(request.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["propagationPolicy"], "Background");
        respond(send, 200, stored("9"));
        // No second discovery: the kind was cached.
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::DELETE);
        respond(
            send,
            404,
            status(404, "NotFound", "deployments.apps \"web\" not found"),
        );
    });
    let target = ObjectRef::of_manifest(&deployment()).unwrap();
    assert_eq!(
        cluster.delete(&target).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        cluster.delete(&target).await.unwrap(),
        DeleteOutcome::NotFound
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_kind_the_cluster_does_not_serve_is_named() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.uri().path(), "/apis/pxc.percona.com/v1");
        respond(
            send,
            404,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    });
    let target = ObjectRef {
        api_version: "pxc.percona.com/v1".into(),
        kind: "PerconaXtraDBCluster".into(),
        namespace: Some("shop".into()),
        name: "db".into(),
    };
    let err = cluster.get(&target).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "NotFound: the cluster does not serve pxc.percona.com/v1 PerconaXtraDBCluster"
    );
}

/// The query string of `uri`, decoded as a form (`+` is a space).
fn decoded_query(uri: &http::Uri) -> String {
    let raw = uri.query().unwrap_or_default().replace('+', " ");
    let mut decoded = Vec::new();
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = bytes.next().unwrap();
            let low = bytes.next().unwrap();
            let hex = [high, low];
            decoded.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
        } else {
            decoded.push(byte);
        }
    }
    String::from_utf8(decoded).unwrap()
}

#[tokio::test]
async fn list_asks_one_namespace_with_the_label_selector_and_refuses_cluster_kinds() {
    let (cluster, mut handle) = cluster();
    let core = json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
         "verbs": ["get", "list", "watch"]},
        {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
         "verbs": ["get", "list", "watch"]}
    ]});
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.uri().path(), "/api/v1");
        respond(send, 200, core.clone());
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
        let query = decoded_query(request.uri());
        assert!(
            query.contains("labelSelector=app=web,tier in (front,back)"),
            "{query}"
        );
        respond(
            send,
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
                {"metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web", "tier": "front"}}}
            ]}),
        );
        // The discovery of Node, and nothing after it.
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.uri().path(), "/api/v1");
        respond(send, 200, core);
    });
    let selector = Selector::of_label_selector(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}],
    }))
    .unwrap();
    let pods = cluster.list("shop", "v1", "Pod", &selector).await.unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["name"], "web-1");
    // Node is cluster-scoped: lists are of one namespace, so none is sent.
    let err = cluster
        .list("shop", "v1", "Node", &selector)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::InvalidManifest(message) if message.contains("cluster-scoped")),
        "{err:?}"
    );
    server.await.unwrap();
}
