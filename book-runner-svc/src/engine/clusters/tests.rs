use std::os::unix::fs::symlink;

use super::*;
use crate::domain::snapshot::sample_snapshot;

fn refused(root: &Path, path: &str) -> String {
    match directory_in_root(root, path) {
        Err(message) => message,
        Ok(folder) => panic!("{path:?} was let through as {}", folder.display()),
    }
}

#[test]
fn a_directory_cluster_is_a_folder_under_the_root() {
    let root = tempfile::tempdir().unwrap();
    let real_root = root.path().canonicalize().unwrap();
    assert_eq!(
        directory_in_root(root.path(), "c1").unwrap(),
        real_root.join("c1")
    );
    assert_eq!(
        directory_in_root(root.path(), "./teams/c1/").unwrap(),
        real_root.join("teams/c1")
    );
    let absolute = root.path().join("c2");
    assert_eq!(
        directory_in_root(root.path(), absolute.to_str().unwrap()).unwrap(),
        real_root.join("c2")
    );
    // A root that does not exist yet is made.
    let fresh = root.path().join("fresh/root");
    assert_eq!(
        directory_in_root(&fresh, "c1").unwrap(),
        real_root.join("fresh/root/c1")
    );
    // A link that stays inside is fine.
    std::fs::create_dir(root.path().join("real")).unwrap();
    symlink(root.path().join("real"), root.path().join("alias")).unwrap();
    assert_eq!(
        directory_in_root(root.path(), "alias/c1").unwrap(),
        real_root.join("real/c1")
    );
}

#[test]
fn a_directory_outside_the_root_is_refused_naming_the_path_and_the_root() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("clusters");
    std::fs::create_dir(&root).unwrap();
    let elsewhere = base.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, root.join("escape")).unwrap();
    symlink(&root, root.join("itself")).unwrap();

    let suffix = format!(
        "; directory clusters live in folders under the runner's directory root {} \
         (runner.directory_root)",
        root.display()
    );
    for (path, why) in [
        ("/etc", "is outside it".to_owned()),
        ("/var/run/secrets/kubernetes.io", "is outside it".to_owned()),
        ("../elsewhere", "climbs with '..'".to_owned()),
        ("c1/../../elsewhere", "climbs with '..'".to_owned()),
        (".", "is the root itself, not a folder in it".to_owned()),
        (
            root.to_str().unwrap(),
            "is the root itself, not a folder in it".to_owned(),
        ),
        (
            "escape",
            format!(
                "leads to {} through a symbolic link",
                elsewhere.canonicalize().unwrap().display()
            ),
        ),
        (
            "escape/deeper/c1",
            format!(
                "leads to {} through a symbolic link",
                elsewhere.canonicalize().unwrap().display()
            ),
        ),
        (
            "itself",
            format!(
                "leads to {} through a symbolic link",
                root.canonicalize().unwrap().display()
            ),
        ),
    ] {
        assert_eq!(
            refused(&root, path),
            format!("directory {path:?} {why}{suffix}"),
            "{path}"
        );
    }
    assert_eq!(refused(&root, ""), "the directory path is empty");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "something was written outside the root"
    );
}

fn provider(root: &Path, policy: CredentialPolicy) -> ClusterProvider {
    ClusterProvider::new(&RunnerSettings {
        directory_root: root.to_path_buf(),
        kubernetes: policy,
        ..RunnerSettings::default()
    })
}

fn error_of(result: Result<Arc<dyn Cluster>, String>) -> String {
    match result {
        Err(message) => message,
        Ok(_) => panic!("connected"),
    }
}

#[test]
fn a_job_cannot_connect_outside_the_root_or_with_credentials_the_runner_does_not_allow() {
    let root = tempfile::tempdir().unwrap();
    let snapshot = sample_snapshot(&[]);
    let provider = provider(root.path(), CredentialPolicy::default());
    let mut facts = snapshot.clusters[0].clone();

    facts.connection = ClusterConnection::Directory {
        path: "/etc".into(),
        simulated: false,
    };
    let err = error_of(provider.connect(&facts, &snapshot.project));
    assert!(
        err.starts_with("cluster projects/sample/clusters/sample: directory \"/etc\" is outside"),
        "{err}"
    );

    facts.connection = ClusterConnection::Kubernetes {
        kubeconfig_path: String::new(),
        context: String::new(),
        in_cluster: true,
    };
    let err = error_of(provider.connect(&facts, &snapshot.project));
    assert!(
        err.starts_with("cluster projects/sample/clusters/sample: an in-cluster connection")
            && err.contains("runner.kubernetes.allow_in_cluster"),
        "{err}"
    );

    let kubeconfig = root.path().join("exec.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/false}}}]\n",
    )
    .unwrap();
    facts.connection = ClusterConnection::Kubernetes {
        kubeconfig_path: kubeconfig.display().to_string(),
        context: String::new(),
        in_cluster: false,
    };
    let err = error_of(provider.connect(&facts, &snapshot.project));
    assert_eq!(
        err,
        format!(
            "cluster projects/sample/clusters/sample: kubeconfig {}: user \"u\" of context \"c\" \
             uses an exec credential plugin (users[].user.exec), which this runner does not \
             allow (runner.kubernetes.allow_exec)",
            kubeconfig.display()
        )
    );
    // Allowed by the configuration, the same connection is made, as the project.
    let allowing = self::provider(
        root.path(),
        CredentialPolicy {
            allow_exec: true,
            allow_in_cluster: true,
            ..CredentialPolicy::default()
        },
    );
    allowing.connect(&facts, &snapshot.project).unwrap();
    let mut other = snapshot.project.clone();
    other.slug = "other".into();
    allowing.connect(&facts, &other).unwrap();
    allowing.connect(&facts, &snapshot.project).unwrap();
    // One client per (connection, project): a project never shares another's.
    assert_eq!(allowing.kubernetes().len(), 2);

    let mut bad = snapshot.project.clone();
    bad.slug = "system:masters".into();
    let err = error_of(allowing.connect(&facts, &bad));
    assert!(
        err.contains("\"system:masters\" is not a DNS label"),
        "{err}"
    );
}
