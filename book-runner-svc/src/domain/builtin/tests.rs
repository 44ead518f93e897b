//! Every built-in book parses, validates and renders into manifests of its deployment.

use serde_json::Value;

use super::*;
use crate::cluster::ObjectRef;
use crate::domain::{
    confinement::{Confinement, KNOWN_CLUSTER_SCOPED, ObjectScope},
    manifest::parse_documents,
    render::render_book,
    snapshot::{Snapshot, sample_snapshot},
    template::Templates,
    validate::validate,
};

/// A plausible value for a required parameter, as a deployment would set it.
pub(super) fn plausible(parameter: &str) -> String {
    match parameter {
        "host" => "shop.example.com".to_owned(),
        "db_host" => "pg-primary.pg-ns.svc".to_owned(),
        "db_port" => "5432".to_owned(),
        "db_user" => "odoo".to_owned(),
        "db_password_secret" => "pg-pguser-odoo".to_owned(),
        other => format!("sample-{}", other.replace('_', "-")),
    }
}

fn snapshot_for(book: &BookSpec) -> Snapshot {
    let values: Vec<(String, String)> = book
        .parameters
        .iter()
        .filter(|parameter| parameter.required)
        .map(|parameter| (parameter.name.clone(), plausible(&parameter.name)))
        .collect();
    let borrowed: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut snapshot = sample_snapshot(&borrowed);
    snapshot.group.deployment_type = book.deployment_type.clone();
    snapshot.deployment.image = "registry.example/shop:17.0".to_owned();
    snapshot.namespace = "shop-ns".to_owned();
    snapshot
}

#[test]
fn there_is_one_builtin_per_type_and_phase() {
    let names: Vec<String> = builtin_books()
        .iter()
        .map(|book| format!("books/{}", book.name))
        .collect();
    for deployment_type in DeploymentType::ALL {
        for phase in Phase::ALL {
            let name = builtin_book_name(deployment_type, phase);
            assert!(names.contains(&name), "{name} is missing");
        }
    }
    assert_eq!(names.len(), 16);
}

#[test]
fn every_builtin_is_named_after_its_file_and_typed_by_it() {
    for ((file, _), book) in BUILTIN_BOOKS.iter().zip(builtin_books()) {
        assert_eq!(book.name, *file);
        let (type_name, _) = file.split_once('-').expect("files are {type}-{phase}");
        assert_eq!(book.deployment_type, type_name, "{file}");
        assert!(!book.display_name.is_empty(), "{file} has no display name");
        assert!(!book.description.is_empty(), "{file} has no description");
    }
}

#[test]
fn every_builtin_validates_without_violation() {
    let templates = Templates::default();
    for book in builtin_books() {
        let violations = validate(&book, &templates);
        let described: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(
            described.is_empty(),
            "{}:\n{}",
            book.name,
            described.join("\n")
        );
    }
}

#[test]
fn drop_books_say_what_happens_to_the_data() {
    for book in builtin_books()
        .iter()
        .filter(|book| book.name.ends_with("-drop"))
    {
        let description = book.description.to_lowercase();
        assert!(
            description.contains("data") || description.contains("volume"),
            "{}: {}",
            book.name,
            book.description
        );
    }
}

#[test]
fn every_builtin_renders_manifests_in_the_deployment_namespace() {
    let templates = Templates::default();
    for book in builtin_books() {
        let snapshot = snapshot_for(&book);
        let steps = render_book(&templates, &book, &snapshot, "deploy")
            .unwrap_or_else(|err| panic!("{} does not render: {err}", book.name));
        assert_eq!(steps.len(), book.steps.len(), "{}", book.name);
        for step in &steps {
            let at = format!("{} step {:?}", book.name, step.step_name);
            if let Some(namespace) = step.arguments.get("namespace") {
                assert_eq!(namespace, &snapshot.namespace, "{at}");
            }
            let Some(manifest) = step.arguments.get("manifest") else {
                continue;
            };
            let documents =
                parse_documents(manifest).unwrap_or_else(|err| panic!("{at}: {err}\n{manifest}"));
            assert!(!documents.is_empty(), "{at}: no object");
            for document in &documents {
                check_namespace(&at, document, &snapshot.namespace);
            }
        }
    }
}

/// The rule the runner applies to every object a step sends.
fn check_namespace(at: &str, document: &Value, namespace: &str) {
    let target = ObjectRef::of_manifest(document).unwrap_or_else(|err| panic!("{at}: {err}"));
    let scope = if KNOWN_CLUSTER_SCOPED.contains(&target.kind.as_str()) {
        ObjectScope::Cluster
    } else {
        ObjectScope::Namespaced
    };
    if let Err(refusal) = Confinement::to_namespace(namespace).check(&target, scope) {
        panic!("{at}: {refusal}");
    }
}

#[test]
fn the_odoo_deploy_book_runs_the_deployment_image() {
    let book = builtin_books()
        .into_iter()
        .find(|book| book.name == "odoo-deploy")
        .expect("odoo-deploy");
    let snapshot = snapshot_for(&book);
    let steps = render_book(&Templates::default(), &book, &snapshot, "deploy").unwrap();
    let manifests: String = steps
        .iter()
        .filter_map(|step| step.arguments.get("manifest"))
        .cloned()
        .collect();
    assert!(
        manifests.contains(&snapshot.deployment.image),
        "{manifests}"
    );
    for port in ["8069", "8072", "/websocket", "Recreate"] {
        assert!(manifests.contains(port), "{port} is missing");
    }
}
