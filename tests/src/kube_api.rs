//! Access to the real test API server (see `scripts/kube-apiserver`): the simulated controllers
//! and operators acting through it as the real ones do, the operators' real CRDs, and what a
//! platform team does to let a project work in a namespace (deploy/'s role and sample).

use std::time::{Duration, SystemTime};

use eyrie_book_runner_svc::{
    cluster::{
        Cluster as _,
        kubernetes::KubernetesCluster,
        simulation::{Change, Faults, KINDS, reconcile_namespace},
    },
    domain::manifest::parse_documents,
};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::{
    Api, Client, Config,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Path of the admin kubeconfig of the test API server, or `None` (with a message) when it does
/// not run. In CI a missing API server fails the test: it must never pass by skipping.
pub fn kubeconfig() -> Option<String> {
    match std::env::var("EYRIE_TEST_KUBECONFIG") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "EYRIE_TEST_KUBECONFIG is not set in CI: .ci/run must start scripts/kube-apiserver"
            )
        }
        _ => {
            eprintln!(
                "skipped: no test API server. Run `scripts/kube-apiserver build && scripts/kube-apiserver start DIR`, \
                 then `source DIR/env` to run the kubernetes driver tests"
            );
            None
        }
    }
}

/// A client of the test API server from kubeconfig `path`.
pub async fn client(path: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The objects of one kind in `namespace`.
pub fn namespaced(
    client: &Client,
    namespace: &str,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource(api_version, kind, plural),
    )
}

/// Runs the simulated controllers and operators (`cluster::simulation`) on `namespace` until
/// the guard is dropped.
pub fn start_controllers(client: Client, namespace: &str) -> ControllersGuard {
    start_controllers_with_faults(client, namespace, Faults::default())
}

/// Runs the simulated controllers on `namespace`, playing `faults`, until the guard is dropped.
pub fn start_controllers_with_faults(
    client: Client,
    namespace: &str,
    faults: Faults,
) -> ControllersGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        while !token.is_cancelled() {
            reconcile(&client, &namespace, &faults).await;
            tokio::time::sleep(RECONCILE_INTERVAL).await;
        }
    });
    ControllersGuard(stop)
}

/// How often the controllers read the namespace again.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(100);

/// Stops the controllers when dropped.
pub struct ControllersGuard(CancellationToken);

impl Drop for ControllersGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn api_of(client: &Client, namespace: &str, kind: &str) -> Option<Api<DynamicObject>> {
    let known = KINDS.iter().find(|known| known.kind == kind)?;
    Some(namespaced(
        client,
        namespace,
        known.api_version,
        known.kind,
        known.plural,
    ))
}

/// One pass: reads every kind the simulation knows in `namespace`, and writes what its
/// controllers change, as they would: `/status` for statuses, updates carrying the resource
/// version they read (a conflict waits for the next pass), owned objects with owner references
/// (the API server's garbage collector deletes them with their owner).
async fn reconcile(client: &Client, namespace: &str, faults: &Faults) {
    let mut objects = Vec::new();
    for kind in KINDS {
        let api = namespaced(client, namespace, kind.api_version, kind.kind, kind.plural);
        // A kind the server does not serve (no CRD installed) has no objects.
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        for item in list.items {
            let mut object = serde_json::to_value(item).unwrap_or_default();
            // Items of a list carry no apiVersion and kind.
            object["apiVersion"] = json!(kind.api_version);
            object["kind"] = json!(kind.kind);
            objects.push(object);
        }
    }
    for change in reconcile_namespace(&objects, faults, SystemTime::now()) {
        let target = change.target();
        let Some(api) = api_of(client, namespace, &target.kind) else {
            continue;
        };
        // Errors (a conflict, a namespace being deleted) are retried by the next pass.
        let _ = match &change {
            Change::Create(object) => match serde_json::from_value::<DynamicObject>(object.clone())
            {
                Ok(object) => api.create(&PostParams::default(), &object).await.map(drop),
                Err(_) => Ok(()),
            },
            Change::Update(object) => match serde_json::from_value::<DynamicObject>(object.clone())
            {
                Ok(object) => api
                    .replace(&target.name, &PostParams::default(), &object)
                    .await
                    .map(drop),
                Err(_) => Ok(()),
            },
            Change::Status { status, .. } => {
                let seen = objects.iter().find(|object| {
                    object["kind"] == target.kind.as_str()
                        && object["metadata"]["name"] == target.name.as_str()
                });
                let Some(mut written) = seen.cloned() else {
                    continue;
                };
                written["status"] = status.clone();
                match serde_json::from_value::<DynamicObject>(written) {
                    Ok(object) => api
                        .replace_status(&target.name, &PostParams::default(), &object)
                        .await
                        .map(drop),
                    Err(_) => Ok(()),
                }
            }
            Change::Delete(_) => api
                .delete(&target.name, &DeleteParams::default())
                .await
                .map(drop),
        };
    }
}

/// The operators' own CRDs (`tests/fixtures/crds/`, unchanged upstream files).
pub const UPSTREAM_CRDS: [&str; 2] = [
    include_str!("../../book-runner-svc/tests/fixtures/crds/pgo-v5.8.9-postgresclusters.yaml"),
    include_str!(
        "../../book-runner-svc/tests/fixtures/crds/pxc-v1.19.0-perconaxtradbclusters.yaml"
    ),
];

/// An upstream CRD as the 1.20 test API server accepts it (`tests/fixtures/crds/README.md`):
/// without `x-kubernetes-validations` (CEL, which 1.20 does not know) and without `default: ""`
/// (which it refuses), a list-map key that had such a default being required instead.
pub fn derived_crd(text: &str) -> Value {
    let mut crd: Value = serde_saphyr::from_str(text).expect("the CRD fixtures are YAML");
    fn derive(schema: &mut Value) {
        match schema {
            Value::Object(fields) => {
                fields.remove("x-kubernetes-validations");
                let keys: Vec<String> = fields
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                if let Some(items) = fields.get_mut("items") {
                    for key in keys {
                        if items.pointer(&format!("/properties/{key}/default")) == Some(&json!(""))
                        {
                            let required =
                                items["required"].as_array().cloned().unwrap_or_default();
                            if !required.contains(&json!(key)) {
                                let mut required = required;
                                required.push(json!(key));
                                items["required"] = json!(required);
                            }
                        }
                    }
                }
                if fields.get("default") == Some(&json!("")) {
                    fields.remove("default");
                }
                fields.values_mut().for_each(derive);
            }
            Value::Array(items) => items.iter_mut().for_each(derive),
            _ => {}
        }
    }
    derive(&mut crd["spec"]);
    if let Some(fields) = crd.as_object_mut() {
        fields.remove("status");
    }
    crd
}

/// Installs the operators' real CRDs, derived as [`derived_crd`] says, once per test binary:
/// created (a server-side apply of objects this size would also store their managed fields),
/// or replaced when the server holds another schema under the same name.
pub async fn install_crds(path: &str) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let api = kube::Api::<DynamicObject>::all_with(
                client(path).await,
                &kube::api::ApiResource::from_gvk_with_plural(
                    &kube::api::GroupVersionKind::gvk(
                        "apiextensions.k8s.io",
                        "v1",
                        "CustomResourceDefinition",
                    ),
                    "customresourcedefinitions",
                ),
            );
            for text in UPSTREAM_CRDS {
                let crd = derived_crd(text);
                let name = crd["metadata"]["name"].as_str().unwrap().to_owned();
                let object: DynamicObject = serde_json::from_value(crd.clone()).unwrap();
                // nextest runs each test in a process of its own, so several may install at
                // once: a create or replace that another one won is read again.
                for attempt in 1.. {
                    let written = match api.get_opt(&name).await.unwrap() {
                        None => api.create(&PostParams::default(), &object).await.map(drop),
                        Some(stored)
                            if stored.data["spec"]["versions"] != crd["spec"]["versions"] =>
                        {
                            let mut replacing = object.clone();
                            replacing.metadata.resource_version = stored.metadata.resource_version;
                            api.replace(&name, &PostParams::default(), &replacing)
                                .await
                                .map(drop)
                        }
                        Some(_) => Ok(()),
                    };
                    match written {
                        Ok(()) => break,
                        Err(kube::Error::Api(status)) if status.code == 409 && attempt < 10 => {}
                        Err(error) => panic!("installing CRD {name}: {error}"),
                    }
                }
                let established = async {
                    loop {
                        let crd = api.get(&name).await.unwrap();
                        let conditions = crd.data["status"]["conditions"].as_array().cloned();
                        if conditions.into_iter().flatten().any(|condition| {
                            condition["type"] == "Established" && condition["status"] == "True"
                        }) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(30), established)
                    .await
                    .expect("CRD not established");
            }
        })
        .await;
}

/// Every field of `sent` that `stored` lacks or holds with another value: what the API server
/// pruned or changed of what a book sent.
pub fn pruned(sent: &Value, stored: &Value, path: &str, found: &mut Vec<String>) {
    match (sent, stored) {
        (Value::Object(sent), Value::Object(stored)) => {
            for (key, value) in sent {
                let at = format!("{path}.{key}");
                match stored.get(key) {
                    Some(kept) => pruned(value, kept, &at, found),
                    None => found.push(format!("{at}: sent {value}, not stored")),
                }
            }
        }
        (Value::Array(sent), Value::Array(stored)) if sent.len() == stored.len() => {
            for (index, (value, kept)) in sent.iter().zip(stored).enumerate() {
                pruned(value, kept, &format!("{path}[{index}]"), found);
            }
        }
        (sent, stored) if sent != stored => {
            found.push(format!("{path}: sent {sent}, stored {stored}"));
        }
        _ => {}
    }
}

const PROJECT_ROLE: &str = include_str!("../../deploy/kubernetes/base/project-role.yaml");
const SAMPLE: &str = include_str!("../../deploy/kubernetes/samples/project-namespace.yaml");

/// What a platform team does to let project `slug` work in `namespace`: deploy/'s
/// `eyrie-project` role, and deploy/'s sample for project `acme` and namespace `acme-shop`,
/// made for this project and namespace. The namespace is created by it, as the sample says.
pub async fn grant_project(admin: &KubernetesCluster, slug: &str, namespace: &str) {
    let sample = SAMPLE
        .replace("acme-shop", namespace)
        .replace("eyrie:project:acme", &format!("eyrie:project:{slug}"))
        .replace("eyrie-project-acme", &format!("eyrie-project-{slug}"));
    let documents = parse_documents(PROJECT_ROLE)
        .unwrap()
        .into_iter()
        .chain(parse_documents(&sample).unwrap());
    for document in documents {
        admin.apply(&document, true).await.unwrap();
    }
    // The API server's authorizer learns of new bindings from its cache, a moment later.
    let path = kubeconfig().expect("granting needs the test API server");
    let user = format!("eyrie:project:{slug}");
    assert!(
        allowed_soon(
            &client(&path).await,
            &user,
            "create",
            ("", "configmaps"),
            Some(namespace)
        )
        .await,
        "{user} was never allowed to create ConfigMaps in {namespace}"
    );
}

/// Whether `user` may do `verb` on `resource` in `namespace`, asked until the API server's
/// authorizer has seen the bindings just written, or until it is clear that it never will.
pub async fn allowed_soon(
    client: &kube::Client,
    user: &str,
    verb: &str,
    resource: (&str, &str),
    namespace: Option<&str>,
) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if may_in(client, user, verb, resource, None, namespace).await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// [`may`], in `namespace` when there is one.
pub async fn may_in(
    client: &kube::Client,
    user: &str,
    verb: &str,
    (group, resource): (&str, &str),
    name: Option<&str>,
    namespace: Option<&str>,
) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                name: name.map(str::to_owned),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    kube::Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}
