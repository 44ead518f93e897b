//! Every example configuration shipped in `config/` loads into its service's settings, so a
//! renamed or misspelt key cannot silently ship.

use std::path::{Path, PathBuf};

use eyrie_platform::config::load;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name)
}

#[test]
fn example_configurations_load() {
    let none = Some(Default::default());
    let deployment: eyrie_deployment_svc::Settings =
        load(Some(&example("deployment-svc.toml")), none.clone()).unwrap();
    assert_eq!(deployment.server.listen_addr_or(0).port(), 50061);
    assert_eq!(
        deployment.peers.version.as_deref(),
        Some("http://version-svc:50063")
    );
    assert_eq!(
        deployment.lifecycle.reconcile_interval,
        std::time::Duration::from_secs(10)
    );
    let runner: eyrie_book_runner_svc::Settings =
        load(Some(&example("book-runner-svc.toml")), none.clone()).unwrap();
    assert_eq!(runner.database.schema.as_deref(), Some("book_runner"));
    assert_eq!(runner.runner.lease_ttl, std::time::Duration::from_secs(15));
    assert_eq!(
        runner.peers.deployment.as_deref(),
        Some("http://deployment-svc:50061")
    );
    // The example spells out retention's defaults.
    assert_eq!(runner.runner.retention, Default::default());
    let version: eyrie_version_svc::Settings =
        load(Some(&example("version-svc.toml")), none.clone()).unwrap();
    assert_eq!(version.server.listen_addr_or(0).port(), 50063);
    let gateway: eyrie_gateway::Settings = load(Some(&example("gateway.toml")), none).unwrap();
    assert_eq!(gateway.backends.version, "http://version-svc:50063");
    assert!(gateway.auth.bootstrap_token_file.is_some());
}

#[test]
fn every_example_configuration_is_checked() {
    let mut names: Vec<_> = std::fs::read_dir(example(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "book-runner-svc.toml",
            "deployment-svc.toml",
            "gateway.toml",
            "version-svc.toml"
        ],
        "a new example configuration needs a check in example_configurations_load"
    );
}
