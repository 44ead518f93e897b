//! RenderBook and ExportBook over gRPC.

use eyrie_book_runner_svc::domain::manifest::parse_documents;
use eyrie_platform::testing::{describe, test_databases};
use eyrie_proto::v1::{
    self as pb, DeploymentType, OperationAction, RenderBookRequest, RenderBookResponse,
    render_book_request::BookRef, render_book_request::Target,
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::harness::{Running, WEB_BOOK, create, get, snapshot, start, violated_fields};

const PASSWORD: &str = "hunter2-never-shown";

/// A book whose only step applies a Secret holding a parameter's value.
const SECRET_BOOK: &str = r#"
name: secret-deploy
type: none
parameters:
  - {name: password, required: true}
  - {name: optional}
steps:
  - name: Apply the Secret
    uses: k8s.apply
    with:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: {{ deployment.slug ~ "-db" }}, namespace: {{ namespace }}}
        stringData: {password: {{ deployment.parameters.password }}}
"#;

async fn render(
    running: &mut Running,
    request: RenderBookRequest,
) -> Result<RenderBookResponse, tonic::Status> {
    running
        .books
        .render_book(request)
        .await
        .map(tonic::Response::into_inner)
}

fn request(book: BookRef, target: Target, action: OperationAction) -> RenderBookRequest {
    RenderBookRequest {
        book_ref: Some(book),
        target: Some(target),
        action: action.into(),
    }
}

fn odoo_parameters() -> Vec<(&'static str, &'static str)> {
    vec![
        ("host", "shop.acme.example"),
        ("db_host", "pg-primary.acme-pg.svc"),
        ("db_user", "odoo"),
        ("db_password_secret", "pg-pguser-odoo"),
    ]
}

#[tokio::test]
async fn a_builtin_renders_the_deployments_image_in_its_namespace() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let target = Target::Snapshot(snapshot(DeploymentType::Odoo, &odoo_parameters()));
        let response = render(
            &mut running,
            request(
                BookRef::Name("books/odoo-deploy".into()),
                target,
                OperationAction::Deploy,
            ),
        )
        .await
        .unwrap();
        let builtin = get(&mut running, "books/odoo-deploy").await.unwrap();
        assert_eq!(
            response.steps.len(),
            builtin.steps.len(),
            "{backend}: one cluster, each step once"
        );
        assert!(
            response
                .steps
                .iter()
                .all(|step| step.cluster == "projects/acme/clusters/c1"),
            "{backend}"
        );
        let manifests: Vec<&String> = response
            .steps
            .iter()
            .filter_map(|step| step.with.get("manifest"))
            .collect();
        let all = manifests
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("\n---\n");
        assert!(
            all.contains("registry.example/shop:1.0"),
            "{backend}: the image is missing:\n{all}"
        );
        for manifest in &manifests {
            for object in parse_documents(manifest).unwrap() {
                let namespace = if object["kind"] == "Namespace" {
                    &object["metadata"]["name"]
                } else {
                    &object["metadata"]["namespace"]
                };
                assert_eq!(namespace, "acme-shop", "{backend}: {object}");
            }
        }
        assert!(
            all.contains("shop.acme.example"),
            "{backend}: the host is missing"
        );
        for step in &response.steps {
            if let Some(namespace) = step.with.get("namespace") {
                assert_eq!(namespace, "acme-shop", "{backend}: {}", step.step_name);
            }
        }
    }
}

#[tokio::test]
async fn secret_values_never_appear_in_a_render() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let book = create(&mut running, "projects/acme", "secret-deploy", SECRET_BOOK).await;
        let target = Target::Snapshot(snapshot(DeploymentType::None, &[("password", PASSWORD)]));
        let by_name = request(
            BookRef::Name(book.name.clone()),
            target.clone(),
            OperationAction::Deploy,
        );
        let inline = request(BookRef::Book(book), target, OperationAction::Deploy);
        for request in [by_name, inline] {
            let response = render(&mut running, request).await.unwrap();
            let text = format!("{response:?}");
            assert!(!text.contains(PASSWORD), "{backend}: {text}");
            assert!(
                text.contains("<redacted>") && text.contains("password"),
                "{backend}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn render_refusals_name_what_is_missing() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let secret = create(&mut running, "", "secret-deploy", SECRET_BOOK).await;
        let snapshot_of = |parameters: &[(&str, &str)]| {
            Target::Snapshot(snapshot(DeploymentType::None, parameters))
        };

        // A required parameter the deployment lacks.
        let status = render(
            &mut running,
            request(
                BookRef::Name(secret.name.clone()),
                snapshot_of(&[]),
                OperationAction::Deploy,
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend}");
        assert!(
            status.message().contains("\"password\""),
            "{backend}: {}",
            status.message()
        );

        // A template using an optional parameter the deployment does not set: step and field named.
        let mut uses_optional = secret.clone();
        uses_optional.steps[0].with.insert(
            "manifest".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ deployment.parameters.optional }}, namespace: {{ namespace }}}\n".into(),
        );
        let status = render(
            &mut running,
            request(
                BookRef::Book(uses_optional),
                snapshot_of(&[("password", "x")]),
                OperationAction::Deploy,
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend}");
        assert!(
            status.message().contains("Apply the Secret")
                && status.message().contains("with.manifest"),
            "{backend}: {}",
            status.message()
        );

        // An invalid inline book, and malformed targets.
        let mut invalid = secret.clone();
        invalid.steps[0].uses = "k8s.scale".into();
        let cases: Vec<(RenderBookRequest, Code, Vec<&str>)> = vec![
            (
                request(
                    BookRef::Book(invalid),
                    snapshot_of(&[]),
                    OperationAction::Deploy,
                ),
                Code::InvalidArgument,
                vec!["book.steps[0].uses"],
            ),
            (
                request(
                    BookRef::Name("books/nope".into()),
                    snapshot_of(&[]),
                    OperationAction::Deploy,
                ),
                Code::NotFound,
                vec![],
            ),
            (
                request(
                    BookRef::Name("nope".into()),
                    snapshot_of(&[]),
                    OperationAction::Deploy,
                ),
                Code::InvalidArgument,
                vec!["name"],
            ),
            (
                request(
                    BookRef::Name(secret.name.clone()),
                    Target::Snapshot(pb::DeploymentSnapshot {
                        deployment: None,
                        ..snapshot(DeploymentType::None, &[])
                    }),
                    OperationAction::Deploy,
                ),
                Code::InvalidArgument,
                vec!["snapshot.deployment", "snapshot.deployment.name"],
            ),
            (
                request(
                    BookRef::Name(secret.name.clone()),
                    Target::Deployment("shop".into()),
                    OperationAction::Deploy,
                ),
                Code::InvalidArgument,
                vec!["deployment"],
            ),
            (
                RenderBookRequest::default(),
                Code::InvalidArgument,
                vec!["book_ref", "target"],
            ),
            // No deployment-svc in this test: a deployment cannot be read.
            (
                request(
                    BookRef::Name(secret.name.clone()),
                    Target::Deployment("projects/acme/groups/web/deployments/shop".into()),
                    OperationAction::Deploy,
                ),
                Code::FailedPrecondition,
                vec![],
            ),
        ];
        for (request, code, fields) in cases {
            let status = render(&mut running, request.clone()).await.unwrap_err();
            assert_eq!(
                (status.code(), violated_fields(&status)),
                (code, fields.iter().map(|f| f.to_string()).collect()),
                "{backend}: {request:?}: {}",
                status.message()
            );
        }
    }
}

#[tokio::test]
async fn without_cluster_or_action_each_step_renders_once_and_action_is_undefined() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let mut bare = snapshot(DeploymentType::None, &[("host", "web.example")]);
        bare.clusters.clear();
        let web = create(&mut running, "", "web-deploy", WEB_BOOK).await;
        let response = render(
            &mut running,
            request(
                BookRef::Name(web.name),
                Target::Snapshot(bare.clone()),
                OperationAction::Unspecified,
            ),
        )
        .await
        .unwrap();
        let clusters: Vec<&str> = response
            .steps
            .iter()
            .map(|step| step.cluster.as_str())
            .collect();
        assert_eq!(clusters, ["", ""], "{backend}");

        let mut uses_action = web_with_action();
        uses_action.name = String::new();
        let status = render(
            &mut running,
            request(
                BookRef::Book(uses_action.clone()),
                Target::Snapshot(bare.clone()),
                OperationAction::Unspecified,
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{backend}: {}",
            status.message()
        );
        let response = render(
            &mut running,
            request(
                BookRef::Book(uses_action),
                Target::Snapshot(bare),
                OperationAction::Pause,
            ),
        )
        .await
        .unwrap();
        assert!(
            response.steps[0].with["manifest"].contains("action: \"pause\""),
            "{backend}: {response:?}"
        );
    }
}

#[tokio::test]
async fn a_step_whose_condition_is_false_is_shown_skipped_and_unrendered() {
    for database in test_databases() {
        let backend = describe(&database);
        let mut running = start(database).await;
        let mut render_none_deploy = async |host: &str| {
            let target =
                Target::Snapshot(snapshot(DeploymentType::None, &[("ingress_host", host)]));
            let response = render(
                &mut running,
                request(
                    BookRef::Name("books/none-deploy".into()),
                    target,
                    OperationAction::Deploy,
                ),
            )
            .await
            .unwrap();
            let deletion = response
                .steps
                .into_iter()
                .find(|step| step.uses == "k8s.delete")
                .unwrap();
            (deletion.skipped, deletion.with.get("name").cloned())
        };
        assert_eq!(
            render_none_deploy("shop.example").await,
            (true, None),
            "{backend}"
        );
        let (skipped, name) = render_none_deploy("").await;
        assert!(!skipped, "{backend}");
        assert!(name.is_some(), "{backend}");

        // A condition that cannot be evaluated for the target names the step and its `if`.
        let mut uses_action = web_with_action();
        uses_action.steps[0].r#if = "action == 'drop'".into();
        let mut bare = snapshot(DeploymentType::None, &[]);
        bare.clusters.clear();
        let status = render(
            &mut running,
            request(
                BookRef::Book(uses_action),
                Target::Snapshot(bare),
                OperationAction::Unspecified,
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend}");
        assert!(
            status.message().starts_with("step 1 (\"Apply\") if: "),
            "{backend}: {}",
            status.message()
        );
        let subjects: Vec<String> = status
            .get_details_precondition_failure()
            .map(|failure| failure.violations.into_iter().map(|v| v.subject).collect())
            .unwrap_or_default();
        assert_eq!(subjects, ["steps[0].if"], "{backend}");
    }
}

fn web_with_action() -> pb::Book {
    pb::Book {
        r#type: DeploymentType::None.into(),
        steps: vec![pb::Step {
            name: "Apply".into(),
            uses: "k8s.apply".into(),
            with: [(
                "manifest".to_owned(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: {{ namespace }}}\ndata: {action: {{ action }}}\n".to_owned(),
            )]
            .into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}
