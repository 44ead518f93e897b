//! What `deploy/` sets is what the services read, book-runner-svc may only impersonate projects,
//! and the role bound to a project grants what the built-in books do.
//!
//! - Every configuration key the deployment files set — in the TOML files of the kustomize
//!   ConfigMap and of Compose, and as `EYRIE_<SECTION>__<KEY>` variables of containers, patches
//!   and Compose services — is a field of that service's `Settings` (learnt from the type itself,
//!   so a renamed or misspelt key fails here, not in a cluster), and each file with each
//!   service's variables loads into its `Settings`.
//! - book-runner-svc's own ClusterRole grants impersonation of users and of the group
//!   `eyrie:projects` only. The ClusterRole `eyrie-project`, which platform teams bind to a
//!   project per namespace, and the sample's grant on that Namespace by name, grant exactly the
//!   (API group, resource, verb) triples that the built-in books' steps use through the
//!   kubernetes driver: none missing, none spare.

mod rbac;
mod settings;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use eyrie_book_runner_svc::domain::manifest::parse_documents;
use serde::{Deserialize, de::IgnoredAny};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy_dir() -> PathBuf {
    repository().join("deploy")
}

// --- Reading the deployment files --------------------------------------------------------------

/// A YAML node, whatever its shape.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Node {
    Map(BTreeMap<String, Node>),
    List(Vec<Node>),
    Text(String),
    Other(IgnoredAny),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(map) => map.get(key),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Node::Text(text) => Some(text),
            _ => None,
        }
    }

    fn list(&self) -> &[Node] {
        match self {
            Node::List(items) => items,
            _ => &[],
        }
    }

    fn texts(&self) -> Vec<&str> {
        self.list().iter().filter_map(Node::text).collect()
    }
}

/// The documents of a YAML file, read by the same YAML reader as the books'.
fn read_yaml(path: &Path) -> Vec<Node> {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    parse_documents(&text)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .into_iter()
        .map(|document| {
            Node::deserialize(document).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        })
        .collect()
}
