//! Every configuration key the deployment files set is a field of its service's `Settings`.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt, fs,
    path::{Path, PathBuf},
    rc::Rc,
};

use serde::de::{self, DeserializeOwned, IgnoredAny, IntoDeserializer, MapAccess, Visitor};

use super::{Node, deploy_dir, read_yaml, repository};

const CONFIG_DIR: &str = "/etc/eyrie/config";

// --- The services and their settings types ----------------------------------------------------

/// The variables of a configuration: name → value.
type Env = HashMap<String, String>;

/// One service as the deployment files name it.
struct Service {
    /// Container, Deployment, Compose service and configuration file stem.
    name: &'static str,
    /// The argument of `eyrie serve`.
    serve: &'static str,
    /// Field names of the settings type at a path of fields (`[]`: the sections).
    fields: fn(&[String]) -> Result<Vec<&'static str>, String>,
    /// Loads the settings type from a file and variables.
    load: fn(Option<&Path>, Env) -> Result<(), String>,
}

fn load_as<T: DeserializeOwned>(file: Option<&Path>, env: Env) -> Result<(), String> {
    eyrie_platform::config::load::<T>(file, Some(env))
        .map(drop)
        .map_err(|err| err.to_string())
}

const SERVICES: [Service; 4] = [
    Service {
        name: "gateway",
        serve: "gateway",
        fields: fields_of::<eyrie_gateway::Settings>,
        load: load_as::<eyrie_gateway::Settings>,
    },
    Service {
        name: "deployment-svc",
        serve: "deployment",
        fields: fields_of::<eyrie_deployment_svc::Settings>,
        load: load_as::<eyrie_deployment_svc::Settings>,
    },
    Service {
        name: "book-runner-svc",
        serve: "book-runner",
        fields: fields_of::<eyrie_book_runner_svc::Settings>,
        load: load_as::<eyrie_book_runner_svc::Settings>,
    },
    Service {
        name: "version-svc",
        serve: "version",
        fields: fields_of::<eyrie_version_svc::Settings>,
        load: load_as::<eyrie_version_svc::Settings>,
    },
];

fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|service| service.name == name)
}

impl Service {
    /// Whether `key` (e.g. `["database", "url"]`) names a field of the settings, section by
    /// section; else which part does not, and what is there instead.
    fn check_key(&self, key: &[String]) -> Result<(), String> {
        for depth in 0..key.len() {
            let fields = (self.fields)(&key[..depth])
                .map_err(|err| format!("{} is not a section ({err})", key[..depth].join(".")))?;
            if !fields.contains(&key[depth].as_str()) {
                let at = if depth == 0 {
                    "the sections".to_owned()
                } else {
                    format!("[{}]", key[..depth].join("."))
                };
                return Err(format!(
                    "{} has no key {:?}: {at} are {fields:?}",
                    self.name, key[depth]
                ));
            }
        }
        Ok(())
    }
}

// --- The field names a settings type asks for ------------------------------------------------
//
// A derived `Deserialize` of a struct asks its deserializer for a struct and names its fields.
// This deserializer records those names; to reach a nested struct it hands the field's name
// as the only key and itself as the value, and it fails everything else, so the types are read
// and nothing is built.

struct Probe {
    path: Vec<String>,
    found: Rc<RefCell<Option<Vec<&'static str>>>>,
}

#[derive(Debug)]
struct ProbeError(String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl<'de> de::Deserializer<'de> for Probe {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
        Err(ProbeError("a value, not a section".to_owned()))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let Some((next, rest)) = self.path.split_first() else {
            *self.found.borrow_mut() = Some(fields.to_vec());
            return Err(ProbeError("recorded".to_owned()));
        };
        visitor.visit_map(OneField {
            key: Some(next.clone()),
            value: Some(Probe {
                path: rest.to_vec(),
                found: self.found,
            }),
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map of one entry: the field to descend into, and the probe as its value.
struct OneField {
    key: Option<String>,
    value: Option<Probe>,
}

impl<'de> MapAccess<'de> for OneField {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        seed.deserialize(self.value.take().expect("one value after one key"))
    }
}

/// The field names of the struct found at `path` in `T`.
fn fields_of<T: DeserializeOwned>(path: &[String]) -> Result<Vec<&'static str>, String> {
    let found = Rc::new(RefCell::new(None));
    let probe = Probe {
        path: path.to_vec(),
        found: found.clone(),
    };
    let error = match T::deserialize(probe) {
        Ok(_) => "the probe built a value".to_owned(),
        Err(err) => err.0,
    };
    found.take().ok_or(error)
}

fn files_under(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, extensions, out);
        } else if path
            .extension()
            .is_some_and(|ext| extensions.iter().any(|wanted| ext == *wanted))
        {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repository())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A configuration file a service reads, and where the deployment files name it.
struct ConfigFile {
    service: &'static Service,
    path: PathBuf,
    origin: String,
}

/// An `EYRIE_*` variable set for a service.
struct Variable {
    service: &'static Service,
    name: String,
    /// Its value; `None` when it comes from a Secret (or another reference).
    value: Option<String>,
    origin: String,
}

impl Variable {
    /// `EYRIE_DATABASE__URL` → `["database", "url"]`, as the configuration loader reads it.
    fn key(&self) -> Vec<String> {
        self.name
            .strip_prefix("EYRIE_")
            .expect("an EYRIE_ variable")
            .to_lowercase()
            .split("__")
            .map(str::to_owned)
            .collect()
    }
}

/// `EYRIE_CONFIG` is the command line's `--config`, not a setting.
const COMMAND_LINE_VARIABLES: [&str; 1] = ["EYRIE_CONFIG"];

#[derive(Default)]
struct Found {
    files: Vec<ConfigFile>,
    variables: Vec<Variable>,
    /// Inline TOML configuration (a ConfigMap's data), by service.
    inline: Vec<(&'static Service, String, String)>,
    /// Services that run in each place: (origin, service).
    containers: Vec<(String, &'static str)>,
    problems: Vec<String>,
}

impl Found {
    fn service_named(&mut self, name: &str, origin: &str) -> Option<&'static Service> {
        let found = service(name);
        if found.is_none() {
            self.problems.push(format!(
                "{origin}: {name:?} is not a service (expected one of gateway, deployment-svc, \
                 book-runner-svc, version-svc)"
            ));
        }
        found
    }

    /// `eyrie serve <service> --config /etc/eyrie/config/<service>.toml`.
    fn check_command(&mut self, service: &Service, args: &[&str], origin: &str) {
        let expected = [
            "serve",
            service.serve,
            "--config",
            &format!("{CONFIG_DIR}/{}.toml", service.name),
        ];
        if args != expected {
            self.problems
                .push(format!("{origin}: runs {args:?}, expected {expected:?}"));
        }
    }
}

/// Walks a Kubernetes document (object or patch): its containers and their variables.
fn walk_kubernetes(
    node: &Node,
    container: Option<&'static Service>,
    origin: &str,
    found: &mut Found,
) {
    match node {
        Node::Map(map) => {
            if let Some(name) = map.get("name").and_then(Node::text)
                && name.starts_with("EYRIE_")
                && (map.contains_key("value") || map.contains_key("valueFrom"))
            {
                match container {
                    Some(service) => found.variables.push(Variable {
                        service,
                        name: name.to_owned(),
                        value: map.get("value").and_then(Node::text).map(str::to_owned),
                        origin: origin.to_owned(),
                    }),
                    None => found.problems.push(format!(
                        "{origin}: {name} is set outside a container named after an Eyrie \
                         service"
                    )),
                }
            }
            for (key, value) in map {
                if key == "containers" || key == "initContainers" {
                    for item in value.list() {
                        let name = item.get("name").and_then(Node::text).unwrap_or_default();
                        let at = format!("{origin} container {name}");
                        // Other containers (the dev PostgreSQL) may be there: without EYRIE_
                        // variables, which the walk reports.
                        let service = service(name);
                        if let (Some(service), Some(args)) = (service, item.get("args")) {
                            found.check_command(service, &args.texts(), &at);
                        }
                        walk_kubernetes(item, service, &at, found);
                    }
                } else {
                    walk_kubernetes(value, container, origin, found);
                }
            }
        }
        Node::List(items) => {
            for item in items {
                walk_kubernetes(item, container, origin, found);
            }
        }
        Node::Text(_) | Node::Other(_) => {}
    }
}

/// Every `Text` that mentions an `EYRIE_` variable (all of them must be variables we found).
fn mentions<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    match node {
        Node::Map(map) => map.values().for_each(|value| mentions(value, out)),
        Node::List(items) => items.iter().for_each(|item| mentions(item, out)),
        Node::Text(text) if text.contains("EYRIE_") => out.push(text),
        Node::Text(_) | Node::Other(_) => {}
    }
}

/// The `files` of the kustomization's ConfigMap generators: `[key=]path`.
fn kustomization_files(document: &Node, dir: &Path, origin: &str, found: &mut Found) {
    for generator in document
        .get("configMapGenerator")
        .map(Node::list)
        .unwrap_or_default()
    {
        for entry in generator.get("files").map(Node::texts).unwrap_or_default() {
            let (key, path) = match entry.split_once('=') {
                Some((key, path)) => (key.to_owned(), path),
                None => (
                    Path::new(entry)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    entry,
                ),
            };
            let at = format!("{origin} configMapGenerator file {entry}");
            let Some(stem) = key.strip_suffix(".toml") else {
                found
                    .problems
                    .push(format!("{at}: not a <service>.toml configuration"));
                continue;
            };
            if let Some(service) = found.service_named(stem, &at) {
                found.files.push(ConfigFile {
                    service,
                    path: dir.join(path),
                    origin: at,
                });
            }
        }
        for other in ["literals", "envs", "env"] {
            if generator.get(other).is_some() {
                found.problems.push(format!(
                    "{origin}: configMapGenerator {other} is not checked; use files of TOML"
                ));
            }
        }
    }
}

fn walk_compose(document: &Node, dir: &Path, origin: &str, found: &mut Found) {
    let configs = document.get("configs");
    let Some(Node::Map(services)) = document.get("services") else {
        found.problems.push(format!("{origin}: no services"));
        return;
    };
    for (name, definition) in services {
        let at = format!("{origin} service {name}");
        let variables: Vec<(String, Option<String>)> = match definition.get("environment") {
            Some(Node::Map(map)) => map
                .iter()
                .map(|(key, value)| (key.clone(), value.text().map(str::to_owned)))
                .collect(),
            Some(Node::List(items)) => items
                .iter()
                .filter_map(Node::text)
                .map(|item| match item.split_once('=') {
                    Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                    None => (item.to_owned(), None),
                })
                .collect(),
            _ => Vec::new(),
        };
        let eyrie = variables.iter().any(|(key, _)| key.starts_with("EYRIE_"))
            || definition
                .get("command")
                .is_some_and(|c| c.texts().first() == Some(&"serve"));
        if !eyrie {
            continue;
        }
        let Some(service) = found.service_named(name, &at) else {
            continue;
        };
        found.containers.push((origin.to_owned(), service.name));
        let command = definition
            .get("command")
            .map(Node::texts)
            .unwrap_or_default();
        found.check_command(service, &command, &at);
        for (key, value) in variables {
            if key.starts_with("EYRIE_") {
                found.variables.push(Variable {
                    service,
                    name: key,
                    value,
                    origin: at.clone(),
                });
            }
        }
        // Its configuration file: a Compose config mounted where the command reads it.
        let target = format!("{CONFIG_DIR}/{}.toml", service.name);
        let mounted = definition
            .get("configs")
            .map(Node::list)
            .unwrap_or_default()
            .iter()
            .find(|config| config.get("target").and_then(Node::text) == Some(&target))
            .and_then(|config| config.get("source").and_then(Node::text));
        let file = mounted
            .and_then(|source| configs?.get(source)?.get("file")?.text())
            .map(|file| dir.join(file.trim_start_matches("./")));
        match file {
            Some(path) => found.files.push(ConfigFile {
                service,
                path,
                origin: format!("{at} config {target}"),
            }),
            None => found
                .problems
                .push(format!("{at}: no Compose config file mounted at {target}")),
        }
    }
}

/// Reads every deployment file under `deploy/`.
fn deployment_files() -> Found {
    let mut found = Found::default();
    let mut paths = Vec::new();
    files_under(&deploy_dir(), &["yaml", "yml"], &mut paths);
    assert!(!paths.is_empty(), "no YAML under deploy/");
    for path in paths {
        let origin = relative(&path);
        let dir = path.parent().unwrap();
        let documents = read_yaml(&path);
        let compose = path.file_name().is_some_and(|name| {
            [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yaml",
                "docker-compose.yml",
            ]
            .contains(&name.to_string_lossy().as_ref())
        });
        let kustomization = path
            .file_name()
            .is_some_and(|name| name == "kustomization.yaml" || name == "kustomization.yml");
        let before = found.variables.len();
        for document in &documents {
            if compose {
                walk_compose(document, dir, &origin, &mut found);
                continue;
            }
            if kustomization {
                kustomization_files(document, dir, &origin, &mut found);
            }
            walk_kubernetes(document, None, &origin, &mut found);
            if document.get("kind").and_then(Node::text) == Some("Deployment") {
                for container in document
                    .get("spec")
                    .and_then(|spec| spec.get("template"))
                    .and_then(|template| template.get("spec"))
                    .and_then(|spec| spec.get("containers"))
                    .map(Node::list)
                    .unwrap_or_default()
                {
                    if let Some(name) = container.get("name").and_then(Node::text)
                        && let Some(service) = service(name)
                        && container.get("image").is_some()
                    {
                        found.containers.push((origin.clone(), service.name));
                    }
                }
            }
            // Inline configuration: a ConfigMap with <service>.toml data.
            if document.get("kind").and_then(Node::text) == Some("ConfigMap")
                && let Some(Node::Map(data)) = document.get("data")
            {
                for (key, value) in data {
                    let Some(stem) = key.strip_suffix(".toml") else {
                        continue;
                    };
                    let at = format!("{origin} ConfigMap data {key}");
                    if let (Some(service), Some(text)) =
                        (found.service_named(stem, &at), value.text())
                    {
                        found.inline.push((service, text.to_owned(), at));
                    }
                }
            }
        }
        // Every mention of an EYRIE_ variable must be one the walk attributed to a service.
        let names: BTreeSet<&str> = found.variables[before..]
            .iter()
            .map(|variable| variable.name.as_str())
            .collect();
        let mut texts = Vec::new();
        documents
            .iter()
            .for_each(|document| mentions(document, &mut texts));
        for text in texts {
            let name = text.split_once('=').map_or(text, |(name, _)| name);
            if !names.contains(name) {
                found.problems.push(format!(
                    "{origin}: {text:?} mentions an EYRIE_ variable where this test cannot tell \
                     which service reads it (set variables in a container's env, named after \
                     its service)"
                ));
            }
        }
    }
    found
}

/// The sections and keys of a TOML file, as the services' configuration loader reads it.
fn toml_keys(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let sections: BTreeMap<String, BTreeMap<String, IgnoredAny>> =
        eyrie_platform::config::load(Some(path), Some(HashMap::new()))
            .map_err(|err| format!("top-level keys must be [sections] of keys: {err}"))?;
    Ok(sections
        .into_iter()
        .flat_map(|(section, keys)| keys.into_keys().map(move |key| vec![section.clone(), key]))
        .collect())
}

#[test]
fn every_configuration_key_of_deploy_is_a_setting_of_its_service() {
    let found = deployment_files();
    let mut problems = found.problems.clone();
    let mut checked = 0;

    // The files: every key exists; the file alone loads.
    let mut inline_files = Vec::new();
    for (service, text, origin) in &found.inline {
        let file = tempfile_with(text);
        inline_files.push((*service, file, origin.clone()));
    }
    let files: Vec<(&Service, &Path, &str)> = found
        .files
        .iter()
        .map(|file| (file.service, file.path.as_path(), file.origin.as_str()))
        .chain(
            inline_files
                .iter()
                .map(|(service, file, origin)| (*service, file.path(), origin.as_str())),
        )
        .collect();
    for (service, path, origin) in &files {
        match toml_keys(path) {
            Ok(keys) => {
                for key in keys {
                    checked += 1;
                    if let Err(err) = service.check_key(&key) {
                        problems.push(format!("{origin} ({}): {err}", relative(path)));
                    }
                }
            }
            Err(err) => problems.push(format!("{origin} ({}): {err}", relative(path))),
        }
    }

    // The variables: every key exists.
    for variable in &found.variables {
        if COMMAND_LINE_VARIABLES.contains(&variable.name.as_str()) {
            continue;
        }
        checked += 1;
        if let Err(err) = variable.service.check_key(&variable.key()) {
            problems.push(format!("{} {}: {err}", variable.origin, variable.name));
        }
    }

    // Each file with every variable set for its service loads: values have the right types.
    // Values from Secrets are stand-ins.
    for (service, path, origin) in &files {
        let env: Env = found
            .variables
            .iter()
            .filter(|variable| variable.service.name == service.name)
            .map(|variable| {
                let value = variable
                    .value
                    .clone()
                    .unwrap_or_else(|| "postgres://from-a-secret@database/eyrie".to_owned());
                (variable.name.clone(), value)
            })
            .collect();
        if let Err(err) = (service.load)(Some(path), env) {
            problems.push(format!(
                "{origin} ({}) with {}'s variables does not load: {err}",
                relative(path),
                service.name
            ));
        }
    }

    // Nothing vacuous: each service runs in Kubernetes and in Compose, with a file and variables.
    for service in &SERVICES {
        for (place, needle) in [("Kubernetes", "deploy/kubernetes/"), ("Compose", "compose")] {
            if !found
                .containers
                .iter()
                .any(|(origin, name)| *name == service.name && origin.contains(needle))
            {
                problems.push(format!("{} runs nowhere in {place}", service.name));
            }
        }
        if !files.iter().any(|(s, _, _)| s.name == service.name) {
            problems.push(format!("{} has no configuration file", service.name));
        }
        if !found
            .variables
            .iter()
            .any(|v| v.service.name == service.name)
        {
            problems.push(format!("{} gets no EYRIE_ variable", service.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the configuration deploy/ sets:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked > 40, "only {checked} keys checked");
}

struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn tempfile_with(text: &str) -> TempFile {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("eyrie-deploy-{}-{n}.toml", std::process::id()));
    fs::write(&path, text).unwrap();
    TempFile(path)
}

#[test]
fn the_key_check_reads_the_settings_types() {
    let key = |text: &str| -> Vec<String> { text.split('.').map(str::to_owned).collect() };
    let gateway = service("gateway").unwrap();
    let sections = (gateway.fields)(&[]).unwrap();
    for section in ["server", "database", "telemetry", "backends", "auth"] {
        assert!(sections.contains(&section), "{sections:?}");
    }
    gateway
        .check_key(&key("auth.bootstrap_token_file"))
        .unwrap();
    gateway.check_key(&key("database.url")).unwrap();
    let err = gateway
        .check_key(&key("auth.bootstrap_token_fil"))
        .unwrap_err();
    assert!(
        err.contains("bootstrap_token_fil") && err.contains("bootstrap_token_file"),
        "{err}"
    );
    let err = gateway.check_key(&key("runner.workers")).unwrap_err();
    assert!(err.contains("runner"), "{err}");
    let err = gateway.check_key(&key("database.url.scheme")).unwrap_err();
    assert!(err.contains("not a section"), "{err}");
    let runner = service("book-runner-svc").unwrap();
    runner.check_key(&key("runner.lease_ttl")).unwrap();
    runner.check_key(&key("peers.deployment")).unwrap();
    assert!(
        service("version-svc")
            .unwrap()
            .check_key(&key("peers.deployment"))
            .is_err()
    );

    let variable = Variable {
        service: runner,
        name: "EYRIE_RUNNER__LEASE_TTL".to_owned(),
        value: Some("15s".to_owned()),
        origin: String::new(),
    };
    assert_eq!(variable.key(), key("runner.lease_ttl"));
}
