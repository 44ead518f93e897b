//! Every built-in book parses, validates and renders into manifests of its deployment.

use serde_json::Value;

use super::*;
use crate::cluster::ObjectRef;
use crate::domain::{
    book::StepSpec,
    confinement::{Confinement, KNOWN_CLUSTER_SCOPED, ObjectScope},
    manifest::parse_documents,
    render::{RenderedStep, render_book},
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
        "run_as_user" | "run_as_group" => "1000".to_owned(),
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

/// The built-in book `name`.
fn builtin(name: &str) -> BookSpec {
    builtin_books()
        .into_iter()
        .find(|book| book.name == name)
        .unwrap_or_else(|| panic!("{name} is not built in"))
}

/// The steps of `book` rendered for a deployment that sets `parameters` (and plausible values
/// of the other required ones).
fn render_with(book: &BookSpec, parameters: &[(&str, &str)]) -> Vec<RenderedStep> {
    let mut snapshot = snapshot_for(book);
    for (name, value) in parameters {
        snapshot
            .deployment
            .parameters
            .insert((*name).to_owned(), (*value).to_owned());
    }
    render_book(&Templates::default(), book, &snapshot, "deploy")
        .unwrap_or_else(|err| panic!("{} with {parameters:?}: {err}", book.name))
}

/// Every object the steps apply (or run as a Job).
fn objects(steps: &[RenderedStep]) -> Vec<Value> {
    steps
        .iter()
        .filter_map(|step| step.arguments.get("manifest"))
        .flat_map(|manifest| parse_documents(manifest).unwrap())
        .collect()
}

/// The one object of `kind` named `name` the steps apply.
fn object_named(steps: &[RenderedStep], kind: &str, name: &str) -> Value {
    let mut found: Vec<Value> = objects(steps)
        .into_iter()
        .filter(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind} {name}: {found:?}");
    found.remove(0)
}

#[test]
fn pxc_sets_the_unsafe_size_flags_only_when_the_deployer_asks() {
    let book = builtin("pxc-deploy");
    let cluster = |parameters: &[(&str, &str)]| {
        object_named(
            &render_with(&book, parameters),
            "PerconaXtraDBCluster",
            "sample",
        )
    };
    // Sizes the operator refuses stay refused: the book no longer switches its checks off.
    for (size, proxies) in [("3", "2"), ("1", "2"), ("4", "2"), ("7", "2"), ("3", "1")] {
        for opt_in in [None, Some("false"), Some("yes")] {
            let mut parameters = vec![("size", size), ("haproxy_size", proxies)];
            parameters.extend(opt_in.map(|value| ("unsafe_size", value)));
            let spec = &cluster(&parameters)["spec"];
            assert!(
                spec.get("unsafeFlags").is_none(),
                "{parameters:?}: {}",
                spec["unsafeFlags"]
            );
            assert_eq!(spec["pxc"]["size"], size.parse::<i64>().unwrap());
            assert_eq!(spec["haproxy"]["size"], proxies.parse::<i64>().unwrap());
        }
    }
    let spec = &cluster(&[
        ("size", "1"),
        ("haproxy_size", "1"),
        ("unsafe_size", "true"),
    ])["spec"];
    assert_eq!(
        spec["unsafeFlags"],
        serde_json::json!({"pxcSize": true, "proxySize": true})
    );
    assert_eq!(spec["pxc"]["size"], 1);
}

#[test]
fn pxc_defaults_are_sizes_and_a_cr_version_operator_v1_19_accepts() {
    let book = builtin("pxc-deploy");
    let spec =
        object_named(&render_with(&book, &[]), "PerconaXtraDBCluster", "sample")["spec"].clone();
    assert_eq!(spec["crVersion"], "1.19.0");
    // The operator's own check (checkSafeDefaults): odd, 3 to 5 nodes, 2 or more proxies.
    let size = spec["pxc"]["size"].as_i64().unwrap();
    assert!((3..=5).contains(&size) && size % 2 == 1, "{size}");
    assert!(spec["haproxy"]["size"].as_i64().unwrap() >= 2);
    assert!(spec.get("unsafeFlags").is_none());
}

#[test]
fn pgo_init_sql_stops_at_the_first_error() {
    let book = builtin("pgo-deploy");
    for db_name in ["app", "", "we\"ird"] {
        let steps = render_with(&book, &[("db_name", db_name), ("db_user", "app")]);
        let config = object_named(&steps, "ConfigMap", "sample-init-sql");
        let sql = config["data"]["init.sql"].as_str().unwrap();
        assert_eq!(
            sql.lines().next(),
            Some("\\set ON_ERROR_STOP on"),
            "db_name {db_name:?}:\n{sql}"
        );
        if !db_name.is_empty() {
            let quoted = format!("\"{}\"", db_name.replace('"', "\"\""));
            assert_eq!(
                sql.lines().nth(1),
                Some(format!("ALTER DATABASE {quoted} OWNER TO \"app\";").as_str())
            );
        }
        let cluster = object_named(&steps, "PostgresCluster", "sample");
        assert_eq!(
            cluster["spec"]["databaseInitSQL"],
            serde_json::json!({"name": "sample-init-sql", "key": "init.sql"})
        );
    }
}

/// The Odoo server's container of the deploy book.
fn odoo_container(steps: &[RenderedStep], name: &str) -> Value {
    let deployment = object_named(steps, "Deployment", "sample");
    let spec = &deployment["spec"]["template"]["spec"];
    spec["containers"]
        .as_array()
        .into_iter()
        .chain(spec["initContainers"].as_array())
        .flatten()
        .find(|container| container["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
        .clone()
}

/// The value of the environment variable `name` of `container`.
fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|variable| variable["name"] == name)
        .map(|variable| &variable["value"])
        .unwrap_or_else(|| panic!("no variable {name}"))
}

#[test]
fn odoo_is_ready_only_while_it_reaches_the_database_and_alive_without_it() {
    let book = builtin("odoo-deploy");
    let odoo = odoo_container(&render_with(&book, &[]), "odoo");
    assert_eq!(
        odoo["readinessProbe"]["httpGet"]["path"],
        "/web/health?db_server_status=1"
    );
    // A database outage must not restart Odoo: only readiness asks for the database.
    assert_eq!(odoo["livenessProbe"]["httpGet"]["path"], "/web/health");
    assert_eq!(odoo["startupProbe"]["httpGet"]["path"], "/web/health");
    // Builds without db_server_status can have the plain route back.
    let odoo = odoo_container(
        &render_with(&book, &[("readiness_path", "/web/health")]),
        "odoo",
    );
    assert_eq!(odoo["readinessProbe"]["httpGet"]["path"], "/web/health");
}

/// Parameters a deployment sets.
type Parameters<'a> = &'a [(&'a str, &'a str)];

#[test]
fn odoo_memory_limits_follow_odoo_defaults_and_the_container_limit_covers_every_process() {
    let book = builtin("odoo-deploy");
    const MIB: i64 = 1024 * 1024;
    let cases: &[(Parameters, &str, i64, i64)] = &[
        // Odoo's defaults; 2 HTTP workers, 1 cron worker and the gevent process, each under
        // limit_memory_hard, and 256 MiB for the prefork master.
        (&[], "10496Mi", 2048, 2560),
        (
            &[("workers", "4"), ("max_cron_threads", "2")],
            "18176Mi",
            2048,
            2560,
        ),
        // Threaded: one process.
        (&[("workers", "0")], "2816Mi", 2048, 2560),
        (
            &[
                ("limit_memory_soft_mib", "600"),
                ("limit_memory_hard_mib", "800"),
            ],
            "3456Mi",
            600,
            800,
        ),
        // A limit of the deployer's own wins.
        (&[("memory_limit", "3Gi")], "3Gi", 2048, 2560),
    ];
    for (parameters, limit, soft, hard) in cases {
        let steps = render_with(&book, parameters);
        let odoo = odoo_container(&steps, "odoo");
        assert_eq!(
            odoo["resources"]["limits"]["memory"], *limit,
            "{parameters:?}"
        );
        let config = odoo_container(&steps, "config");
        assert_eq!(
            env(&config, "LIMIT_MEMORY_SOFT"),
            &Value::String((soft * MIB).to_string()),
            "{parameters:?}"
        );
        assert_eq!(
            env(&config, "LIMIT_MEMORY_HARD"),
            &Value::String((hard * MIB).to_string()),
            "{parameters:?}"
        );
        let script = config["args"][0].as_str().unwrap();
        assert!(
            script.contains("limit_memory_soft = %s\\nlimit_memory_hard = %s"),
            "{script}"
        );
        // The shared odoo.conf no longer sets limits of its own, which would come first and
        // be overridden in a way nobody reads.
        let conf = object_named(&steps, "ConfigMap", "sample-odoo-conf");
        assert!(
            !conf["data"]["odoo.conf"]
                .as_str()
                .unwrap()
                .contains("limit_memory"),
            "{conf}"
        );
    }
}

#[test]
fn the_odoo_books_name_the_versions_they_support() {
    for name in ["odoo-deploy", "odoo-initialize"] {
        let book = builtin(name);
        for version in ["16.0", "17.0", "18.0"] {
            assert!(
                book.description.contains(version),
                "{name}: {}",
                book.description
            );
        }
    }
}

/// How a container of `pod` breaks the `restricted` Pod Security Standard (the fields it
/// checks that these books can set: non-root, seccomp, privilege escalation, capabilities,
/// privileged, host namespaces).
fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let pod_context = &pod["securityContext"];
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[field] == true {
            found.push(format!("{field} is true"));
        }
    }
    if pod_context["runAsUser"] == 0 {
        found.push("the pod runs as uid 0".to_owned());
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(|list| pod[list].as_array().into_iter().flatten());
    let mut seen = 0;
    for container in containers {
        seen += 1;
        let name = container["name"].as_str().unwrap_or("?");
        let context = &container["securityContext"];
        let either = |field: &str| {
            if context[field].is_null() {
                &pod_context[field]
            } else {
                &context[field]
            }
        };
        if either("runAsNonRoot") != true {
            found.push(format!("{name}: runAsNonRoot is not true"));
        }
        if context["runAsUser"] == 0 {
            found.push(format!("{name}: runs as uid 0"));
        }
        let seccomp = either("seccompProfile")["type"].as_str();
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            found.push(format!("{name}: seccompProfile is {seccomp:?}"));
        }
        if context["allowPrivilegeEscalation"] != false {
            found.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        if context["privileged"] == true {
            found.push(format!("{name}: privileged"));
        }
        let drops_all = context["capabilities"]["drop"]
            .as_array()
            .is_some_and(|drop| drop.iter().any(|c| c == "ALL"));
        if !drops_all {
            found.push(format!("{name}: does not drop ALL capabilities"));
        }
        for added in context["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if added != "NET_BIND_SERVICE" {
                found.push(format!("{name}: adds capability {added}"));
            }
        }
        for port in container["ports"].as_array().into_iter().flatten() {
            if !port["hostPort"].is_null() && port["hostPort"] != 0 {
                found.push(format!("{name}: hostPort {}", port["hostPort"]));
            }
        }
    }
    if seen == 0 {
        found.push("no container".to_owned());
    }
    found
}

/// The pod specs of the Deployments, StatefulSets and Jobs among `objects`.
fn pod_specs(objects: &[Value]) -> Vec<(String, Value)> {
    objects
        .iter()
        .filter(|object| {
            matches!(
                object["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "Job")
            )
        })
        .map(|object| {
            (
                format!("{} {}", object["kind"], object["metadata"]["name"]),
                object["spec"]["template"]["spec"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_generic_pods_pass_the_restricted_pod_security_standard() {
    let book = builtin("none-deploy");
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[
            ("health_path", "/healthz"),
            ("ingress_host", "app.example.com"),
        ],
        &[("run_as_user", "1000"), ("run_as_group", "3000")],
    ];
    for parameters in cases {
        let pods = pod_specs(&objects(&render_with(&book, parameters)));
        assert_eq!(pods.len(), 1, "{parameters:?}");
        for (what, pod) in &pods {
            let found = restricted_violations(pod);
            assert!(found.is_empty(), "{parameters:?} {what}: {found:?}");
        }
    }
    let pods = pod_specs(&objects(&render_with(
        &book,
        &[("run_as_user", "1000"), ("run_as_group", "3000")],
    )));
    assert_eq!(pods[0].1["securityContext"]["runAsUser"], 1000);
    assert_eq!(pods[0].1["securityContext"]["runAsGroup"], 3000);
    // Unset, the image's own user stays (runAsNonRoot makes the kubelet refuse root).
    let pods = pod_specs(&objects(&render_with(&book, &[])));
    assert!(pods[0].1["securityContext"].get("runAsUser").is_none());
    // The checker sees what it must refuse.
    let mut loose = pods[0].1.clone();
    loose["containers"][0]["securityContext"] = serde_json::json!({"privileged": true});
    loose["securityContext"]["runAsUser"] = 0.into();
    assert_eq!(restricted_violations(&loose).len(), 4, "{loose}");
}

#[test]
fn every_builtin_pod_passes_the_restricted_pod_security_standard() {
    let mut checked = 0;
    for book in builtin_books() {
        for (what, pod) in pod_specs(&objects(&render_with(&book, &[]))) {
            let found = restricted_violations(&pod);
            assert!(found.is_empty(), "{} {what}: {found:?}", book.name);
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} pods");
}

#[test]
fn the_generic_deploy_deletes_its_ingress_once_ingress_host_is_cleared() {
    let book = builtin("none-deploy");
    let deletions: Vec<(usize, &StepSpec)> = book
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.uses == "k8s.delete")
        .collect();
    let [(delete_index, delete)] = deletions[..] else {
        panic!("one deletion: {deletions:?}");
    };
    assert_eq!(
        delete.condition.as_deref(),
        Some("not deployment.parameters.ingress_host")
    );
    let applied_last = book
        .steps
        .iter()
        .rposition(|step| step.uses == "k8s.apply")
        .unwrap();
    assert!(delete_index > applied_last, "runs after the applies");
    let deletion = |steps: &[RenderedStep]| {
        let rendered: Vec<&RenderedStep> = steps
            .iter()
            .filter(|step| step.step_index == delete_index)
            .collect();
        assert_eq!(rendered.len(), 1);
        rendered[0].clone()
    };
    let ingresses = |steps: &[RenderedStep]| {
        objects(steps)
            .into_iter()
            .filter(|object| object["kind"] == "Ingress")
            .count()
    };

    // Cleared (or never set): no Ingress is applied, and the one of an earlier deploy goes.
    for parameters in [&[("ingress_host", "")][..], &[]] {
        let steps = render_with(&book, parameters);
        assert_eq!(ingresses(&steps), 0);
        let runs = deletion(&steps);
        assert!(!runs.skipped, "{parameters:?}");
        let arguments: Vec<(&str, &str)> = runs
            .arguments
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            arguments,
            [
                ("api_version", "networking.k8s.io/v1"),
                ("kind", "Ingress"),
                ("name", "sample"),
                ("namespace", "shop-ns")
            ]
        );
    }

    // Set: the Ingress is applied, and the deletion does not run.
    let steps = render_with(&book, &[("ingress_host", "app.example.com")]);
    assert_eq!(ingresses(&steps), 1);
    object_named(&steps, "Ingress", "sample");
    let skipped = deletion(&steps);
    assert!(skipped.skipped);
    assert!(skipped.arguments.is_empty(), "{skipped:?}");
}

#[test]
fn pxc_waits_on_the_cluster_state_fail_when_the_operator_reports_an_error() {
    let mut checked = 0;
    for name in ["pxc-deploy", "pxc-pause", "pxc-drop"] {
        for step in render_with(&builtin(name), &[]) {
            if step.uses != "k8s.wait" || step.arguments["kind"] != "PerconaXtraDBCluster" {
                continue;
            }
            let condition = &step.arguments["condition"];
            let fail_when = step.arguments.get("fail_when").map(String::as_str);
            if condition.starts_with("field:status.state=") {
                assert_eq!(
                    fail_when,
                    Some("field:status.state=error"),
                    "{name} {:?}",
                    step.step_name
                );
                checked += 1;
            } else {
                // Waiting for a deleted cluster to go: a state written before the deletion
                // (a cluster that never was healthy) must not fail the drop.
                assert_eq!(condition, "gone", "{name}");
                assert_eq!(fail_when, None, "{name}");
            }
        }
    }
    assert_eq!(checked, 2);
}
