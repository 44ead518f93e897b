//! Every custom resource the built-in books render fits the operators' real schemas
//! (`tests/fixtures/crds/`, the upstream CRDs of PGO v5.8.9 and PXC operator v1.19.0): no field
//! the API server would prune, every value of its declared type and enum, every required field
//! present. The test API server (1.20) prunes unknown fields quietly, so this is where a
//! misspelt or misplaced field shows.

use std::collections::BTreeMap;

use eyrie_book_runner_svc::domain::{
    book::BookSpec, builtin::builtin_books, manifest::parse_documents, render::render_book,
    snapshot::sample_snapshot, template::Templates,
};
use serde_json::Value;

const PGO_CRD: &str = include_str!("../fixtures/crds/pgo-v5.8.9-postgresclusters.yaml");
const PXC_CRD: &str = include_str!("../fixtures/crds/pxc-v1.19.0-perconaxtradbclusters.yaml");
/// The PXC operator release of that fixture.
const PXC_OPERATOR_VERSION: &str = "1.19.0";

/// The schema of each served `(apiVersion, kind)` of the CRDs.
fn schemas() -> BTreeMap<(String, String), Value> {
    let mut schemas = BTreeMap::new();
    for text in [PGO_CRD, PXC_CRD] {
        let crd: Value = serde_saphyr::from_str(text).expect("the CRD fixtures are YAML");
        let group = crd["spec"]["group"].as_str().unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
        for version in crd["spec"]["versions"].as_array().unwrap() {
            if version["served"] == true {
                let api_version = format!("{group}/{}", version["name"].as_str().unwrap());
                schemas.insert(
                    (api_version, kind.to_owned()),
                    version["schema"]["openAPIV3Schema"].clone(),
                );
            }
        }
    }
    schemas
}

/// Every way `value` at `path` breaks `schema`, as the API server would see it.
fn violations(value: &Value, schema: &Value, path: &str, found: &mut Vec<String>) {
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            found.push(format!(
                "{path}: {value} is neither an integer nor a string"
            ));
        }
        return;
    }
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let declared = schema["type"].as_str();
    match value {
        Value::Object(fields) => {
            if declared.is_some_and(|t| t != "object") {
                found.push(format!(
                    "{path}: an object where the schema wants {declared:?}"
                ));
                return;
            }
            for (key, item) in fields {
                let at = format!("{path}.{key}");
                if let Some(property) = schema["properties"].get(key) {
                    violations(item, property, &at, found);
                } else if schema["additionalProperties"].is_object() {
                    violations(item, &schema["additionalProperties"], &at, found);
                } else if !(preserve || schema["additionalProperties"] == true) {
                    found.push(format!("{at}: not in the schema, the API server prunes it"));
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    found.push(format!("{path}.{name}: required by the schema, missing"));
                }
            }
        }
        Value::Array(items) => {
            if declared.is_some_and(|t| t != "array") {
                found.push(format!(
                    "{path}: a list where the schema wants {declared:?}"
                ));
                return;
            }
            for (index, item) in items.iter().enumerate() {
                violations(item, &schema["items"], &format!("{path}[{index}]"), found);
            }
        }
        Value::String(text) => {
            if declared.is_some_and(|t| t != "string") {
                found.push(format!(
                    "{path}: {text:?} is a string, the schema wants {declared:?}"
                ));
            } else if let Some(allowed) = schema["enum"].as_array()
                && !allowed.contains(value)
            {
                found.push(format!("{path}: {text:?} is not one of {allowed:?}"));
            }
        }
        Value::Bool(_) if declared.is_some_and(|t| t != "boolean") => {
            found.push(format!(
                "{path}: a boolean where the schema wants {declared:?}"
            ));
        }
        Value::Number(number) => {
            let fits = match declared {
                Some("integer") => number.is_i64() || number.is_u64(),
                Some("number") | None => true,
                _ => false,
            };
            if !fits {
                found.push(format!(
                    "{path}: {number} where the schema wants {declared:?}"
                ));
            }
        }
        Value::Null if schema["nullable"] != true => {
            found.push(format!("{path}: null, and the schema is not nullable"));
        }
        _ => {}
    }
}

/// The custom resources `book` renders for a deployment with `parameters` (its required ones
/// get plausible values).
fn custom_resources(book: &BookSpec, parameters: &[(&str, &str)]) -> Vec<Value> {
    let mut values: Vec<(String, String)> = book
        .parameters
        .iter()
        .filter(|parameter| parameter.required)
        .map(|parameter| {
            (
                parameter.name.clone(),
                format!("sample-{}", parameter.name.replace('_', "-")),
            )
        })
        .collect();
    values.extend(
        parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let borrowed: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut snapshot = sample_snapshot(&borrowed);
    snapshot.group.deployment_type = book.deployment_type.clone();
    snapshot.deployment.image = String::new();
    let steps = render_book(&Templates::default(), book, &snapshot, "deploy")
        .unwrap_or_else(|err| panic!("{} does not render: {err}", book.name));
    steps
        .iter()
        .filter_map(|step| step.arguments.get("manifest"))
        .flat_map(|manifest| parse_documents(manifest).unwrap())
        .filter(|document| {
            matches!(
                document["kind"].as_str(),
                Some("PostgresCluster" | "PerconaXtraDBCluster")
            )
        })
        .collect()
}

fn check(resource: &Value, schemas: &BTreeMap<(String, String), Value>) -> Vec<String> {
    let key = (
        resource["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        resource["kind"].as_str().unwrap_or_default().to_owned(),
    );
    let schema = schemas
        .get(&key)
        .unwrap_or_else(|| panic!("no CRD serves {key:?}"));
    let mut found = Vec::new();
    // Only spec: metadata is the API server's own (the CRD leaves it open), status the
    // operator's.
    violations(
        &resource["spec"],
        &schema["properties"]["spec"],
        "spec",
        &mut found,
    );
    found
}

#[test]
fn every_builtin_custom_resource_fits_the_operators_schema() {
    let schemas = schemas();
    let variants: &[(&str, &[(&str, &str)])] = &[
        ("defaults", &[]),
        (
            "every option",
            &[
                ("pgbouncer", "true"),
                ("storage_class", "fast"),
                ("user_options", "CREATEDB"),
                ("replicas", "3"),
                ("size", "1"),
                ("haproxy_size", "1"),
                ("unsafe_size", "true"),
            ],
        ),
    ];
    let mut checked = 0;
    for book in builtin_books()
        .iter()
        .filter(|book| book.deployment_type == "pgo" || book.deployment_type == "pxc")
    {
        for (variant, parameters) in variants {
            let parameters: Vec<(&str, &str)> = parameters
                .iter()
                .filter(|(name, _)| book.parameters.iter().any(|p| p.name == *name))
                .copied()
                .collect();
            for resource in custom_resources(book, &parameters) {
                let found = check(&resource, &schemas);
                assert!(
                    found.is_empty(),
                    "{} ({variant}):\n{}",
                    book.name,
                    found.join("\n")
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "only {checked} custom resources were rendered"
    );
}

#[test]
fn every_option_variant_sets_what_it_names() {
    // The variant above must reach the optional parts of the spec, not parameters the books
    // do not have: the unsafe flags of PXC, PGO's proxy.
    let pxc = builtin_books()
        .into_iter()
        .find(|book| book.name == "pxc-deploy")
        .unwrap();
    let resources = custom_resources(
        &pxc,
        &[
            ("size", "1"),
            ("haproxy_size", "1"),
            ("unsafe_size", "true"),
        ],
    );
    assert_eq!(resources[0]["spec"]["unsafeFlags"]["pxcSize"], true);
    assert_eq!(resources[0]["spec"]["pxc"]["size"], 1);
    let pgo = builtin_books()
        .into_iter()
        .find(|book| book.name == "pgo-deploy")
        .unwrap();
    let resources = custom_resources(&pgo, &[("pgbouncer", "true")]);
    assert!(resources[0]["spec"]["proxy"]["pgBouncer"].is_object());
}

#[test]
fn the_pxc_books_default_cr_version_is_the_operator_release_of_the_fixture() {
    let pxc = builtin_books()
        .into_iter()
        .find(|book| book.name == "pxc-deploy")
        .unwrap();
    let cr_version = pxc
        .parameters
        .iter()
        .find(|parameter| parameter.name == "cr_version")
        .and_then(|parameter| parameter.default.clone());
    assert_eq!(cr_version.as_deref(), Some(PXC_OPERATOR_VERSION));
    let resources = custom_resources(&pxc, &[]);
    assert_eq!(resources[0]["spec"]["crVersion"], PXC_OPERATOR_VERSION);
}

#[test]
fn a_field_the_schema_lacks_is_found() {
    let schemas = schemas();
    let resource = serde_json::json!({
        "apiVersion": "pxc.percona.com/v1",
        "kind": "PerconaXtraDBCluster",
        "spec": {"pxc": {"size": "3", "sise": 3}, "unsafeFlags": {"pxcSize": "true"}},
    });
    let found = check(&resource, &schemas);
    assert!(
        found
            .iter()
            .any(|f| f.contains("spec.pxc.sise: not in the schema")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("spec.pxc.size: \"3\" is a string")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains("spec.unsafeFlags.pxcSize")),
        "{found:?}"
    );
}
