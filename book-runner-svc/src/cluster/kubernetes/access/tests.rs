use std::{os::unix::process::ExitStatusExt as _, process::Output};

use super::*;

fn kubeconfig(user: &str) -> Kubeconfig {
    Kubeconfig::from_yaml(&kubeconfig_text(user)).unwrap()
}

fn kubeconfig_text(user: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
current-context: main
clusters:
- name: c
  cluster: {{server: 'https://127.0.0.1:6443'}}
contexts:
- name: main
  context: {{cluster: c, user: u}}
- name: inline
  context: {{cluster: c, user: inline}}
users:
- name: inline
  user: {{token: s3cr3t-inline}}
- name: u
  user: {user}
"
    )
}

const EXEC: &str = "{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: /bin/sh, args: [-c, 'cat /etc/shadow']}}";
const TOKEN_FILE: &str = "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}";
const AUTH_PROVIDER: &str = "{auth-provider: {name: gcp, config: {cmd-path: /bin/sh}}}";

#[test]
fn a_project_identity_is_a_user_of_its_own_in_the_projects_group() {
    let identity = Identity::project("shop").unwrap();
    assert_eq!(identity.user(), "eyrie:project:shop");
    assert_eq!(identity.groups(), ["eyrie:projects"]);

    let mut auth_info = AuthInfo {
        impersonate: Some("system:admin".into()),
        impersonate_groups: Some(vec!["system:masters".into()]),
        impersonate_uid: Some("0".into()),
        ..AuthInfo::default()
    };
    identity.impersonate_in(&mut auth_info);
    assert_eq!(auth_info.impersonate.as_deref(), Some("eyrie:project:shop"));
    assert_eq!(
        auth_info.impersonate_groups,
        Some(vec!["eyrie:projects".to_owned()])
    );
    assert_eq!(auth_info.impersonate_uid, None);
}

#[test]
fn a_slug_that_is_not_a_dns_label_makes_no_identity() {
    for slug in [
        "",
        "Shop",
        "a:b",
        "-a",
        "a-",
        "system:masters",
        &"a".repeat(64),
        "a b",
    ] {
        let err = Identity::project(slug).unwrap_err();
        assert!(err.contains("not a DNS label"), "{slug:?}: {err}");
    }
    assert!(Identity::project(&"a".repeat(63)).is_ok());
    assert!(Identity::project("a-1").is_ok());
}

#[test]
fn exec_plugins_auth_providers_and_token_files_are_refused_unless_allowed() {
    let strict = CredentialPolicy::default();
    for (user, field, flag) in [
        (EXEC, "users[].user.exec", "allow_exec"),
        (AUTH_PROVIDER, "users[].user.auth-provider", "allow_exec"),
        (TOKEN_FILE, "users[].user.tokenFile", "allow_token_file"),
    ] {
        let err = strict.check_kubeconfig(&kubeconfig(user), "").unwrap_err();
        assert!(
            err.starts_with("user \"u\" of context \"main\" uses ")
                && err.contains(field)
                && err.ends_with(&format!("(runner.kubernetes.{flag})")),
            "{err}"
        );
        // Named explicitly, the same context is refused too; another context is not.
        assert!(strict.check_kubeconfig(&kubeconfig(user), "main").is_err());
        strict
            .check_kubeconfig(&kubeconfig(user), "inline")
            .unwrap();
    }
    let allowed = CredentialPolicy {
        allow_exec: true,
        allow_token_file: true,
        allow_in_cluster: false,
    };
    for user in [EXEC, AUTH_PROVIDER, TOKEN_FILE] {
        allowed.check_kubeconfig(&kubeconfig(user), "").unwrap();
    }
    // Inline credentials need nothing.
    strict
        .check_kubeconfig(&kubeconfig("{token: abc}"), "")
        .unwrap();
}

#[test]
fn in_cluster_access_is_refused_unless_allowed() {
    let err = CredentialPolicy::default().check_in_cluster().unwrap_err();
    assert!(
        err.contains("runner's own service account")
            && err.contains("runner.kubernetes.allow_in_cluster"),
        "{err}"
    );
    CredentialPolicy {
        allow_in_cluster: true,
        ..CredentialPolicy::default()
    }
    .check_in_cluster()
    .unwrap();
}

#[test]
fn loading_a_kubeconfig_names_the_file_never_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, "users: [{name: u, user: {token: s3cr3t\n").unwrap();
    let err = CredentialPolicy::default()
        .load_kubeconfig(&path, "")
        .unwrap_err();
    assert_eq!(
        err,
        format!(
            "kubeconfig {}: is not a valid kubeconfig (YAML)",
            path.display()
        )
    );

    let missing = dir.path().join("missing");
    let err = CredentialPolicy::default()
        .load_kubeconfig(&missing, "")
        .unwrap_err();
    assert!(
        err.starts_with(&format!(
            "kubeconfig {}: cannot be read (",
            missing.display()
        )),
        "{err}"
    );

    std::fs::write(&path, kubeconfig_text(EXEC)).unwrap();
    let err = CredentialPolicy::default()
        .load_kubeconfig(&path, "")
        .unwrap_err();
    assert!(
        err.contains("users[].user.exec") && !err.contains("shadow"),
        "{err}"
    );
}

#[test]
fn credential_errors_never_show_a_plugins_output_or_a_token() {
    let plugin = AuthError::AuthExecRun {
        cmd: "/bin/sh -c get-token".into(),
        out: Box::new(Output {
            status: std::process::ExitStatus::from_raw(256),
            stdout: b"{\"status\": {\"token\": \"s3cr3t-token\"}}".to_vec(),
            stderr: b"password=hunter2".to_vec(),
        }),
    };
    // As kube hands it over: boxed by the auth layer, or as its own variant.
    let boxed = kube::Error::Service(Box::new(plugin));
    let message = redacted(&boxed);
    assert_eq!(
        message,
        "the connection's credentials cannot be used: its exec credential plugin failed (its \
         output is not shown)"
    );
    let direct = kube::Error::Auth(AuthError::AuthExec("token s3cr3t-token".into()));
    assert!(
        !redacted(&direct).contains("s3cr3t"),
        "{}",
        redacted(&direct)
    );
    let token_file = kube::Error::Auth(AuthError::ReadTokenFile(
        std::io::Error::other("denied"),
        "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
    ));
    assert_eq!(
        redacted(&token_file),
        "the connection's credentials cannot be used: its token file cannot be read"
    );
    // Other errors keep their text.
    let other = kube::Error::LinesCodecMaxLineLengthExceeded;
    assert_eq!(redacted(&other), other.to_string());
}
