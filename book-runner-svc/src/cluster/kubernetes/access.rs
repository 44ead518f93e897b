//! Who the runner is towards an API server, and which credentials a connection may use.
//!
//! Every request a job sends is made *as its project*: the connection's own credentials only
//! authenticate the runner, and Kubernetes impersonation (`Impersonate-User`,
//! `Impersonate-Group`) turns it into the project's identity, so the API server's RBAC decides
//! what the project's books may touch (Argo CD's sync impersonation does the same). A
//! connection's kubeconfig is checked before use: credential plugins (`exec`, `auth-provider`),
//! `tokenFile` and the runner's own service account are refused unless the runner's
//! configuration allows them, and errors never carry what a credential or a plugin said.

use std::path::Path;

use kube::{
    client::AuthError,
    config::{AuthInfo, Kubeconfig, KubeconfigError},
};
use serde::Deserialize;

/// The group every project identity is in.
pub const PROJECTS_GROUP: &str = "eyrie:projects";

/// The prefix of a project's user name: `eyrie:project:<slug>`.
pub const PROJECT_USER_PREFIX: &str = "eyrie:project:";

/// The identity requests are sent as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    user: String,
    groups: Vec<String>,
}

impl Identity {
    /// Project `slug`: user `eyrie:project:<slug>` in group `eyrie:projects`. The slug must be
    /// a DNS label, so the user name can never be another principal's (`system:...`).
    pub fn project(slug: &str) -> Result<Self, String> {
        if eyrie_platform::names::validate_slug("project.slug", slug).is_err() {
            return Err(format!(
                "project slug {slug:?} is not a DNS label (lower-case letters, digits and '-', \
                 at most 63): no Kubernetes identity can be made from it"
            ));
        }
        Ok(Self {
            user: format!("{PROJECT_USER_PREFIX}{slug}"),
            groups: vec![PROJECTS_GROUP.to_owned()],
        })
    }

    /// The impersonated user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The impersonated groups.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Makes `auth_info` send requests as this identity, replacing any impersonation the
    /// kubeconfig asked for (a kubeconfig cannot add a uid or extras of its own either).
    pub(super) fn impersonate_in(&self, auth_info: &mut AuthInfo) {
        auth_info.impersonate = Some(self.user.clone());
        auth_info.impersonate_groups = Some(self.groups.clone());
        auth_info.impersonate_uid = None;
        auth_info.impersonate_user_extra = None;
    }
}

/// Which credentials a connection may use beyond a kubeconfig's inline ones
/// (`[runner.kubernetes]` in the runner's configuration). Everything is refused by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CredentialPolicy {
    /// Kubeconfig users with an `exec` credential plugin or an `auth-provider` (both run
    /// programs or fetch tokens on the runner's machine).
    pub allow_exec: bool,
    /// Kubeconfig users whose bearer token is read from a file of the runner's machine
    /// (`tokenFile`), e.g. a service account token.
    pub allow_token_file: bool,
    /// In-cluster connections: the runner's own service account (still impersonating the
    /// project).
    pub allow_in_cluster: bool,
}

impl CredentialPolicy {
    /// Refuses an in-cluster connection unless allowed.
    pub fn check_in_cluster(&self) -> Result<(), String> {
        if self.allow_in_cluster {
            Ok(())
        } else {
            Err(
                "an in-cluster connection uses the runner's own service account, which this \
                 runner does not allow (runner.kubernetes.allow_in_cluster)"
                    .to_owned(),
            )
        }
    }

    /// Refuses what the user of `context` (empty: the current context) in `kubeconfig` uses
    /// and this policy does not allow, naming the kubeconfig field.
    pub fn check_kubeconfig(&self, kubeconfig: &Kubeconfig, context: &str) -> Result<(), String> {
        let context_name = match (context, kubeconfig.current_context.as_deref()) {
            ("", Some(current)) => current,
            ("", None) => return Ok(()), // kube refuses it: no current context
            (given, _) => given,
        };
        let Some(user) = kubeconfig
            .contexts
            .iter()
            .find(|named| named.name == context_name)
            .and_then(|named| named.context.as_ref())
            .and_then(|context| context.user.as_deref())
        else {
            return Ok(()); // no such context (kube refuses it) or no user: no credential
        };
        let Some(auth_info) = kubeconfig
            .auth_infos
            .iter()
            .find(|named| named.name == user)
            .and_then(|named| named.auth_info.as_ref())
        else {
            return Ok(());
        };
        let refuse = |field: &str, flag: &str| {
            Err(format!(
                "user {user:?} of context {context_name:?} uses {field}, which this runner does \
                 not allow (runner.kubernetes.{flag})"
            ))
        };
        if auth_info.exec.is_some() && !self.allow_exec {
            return refuse(
                "an exec credential plugin (users[].user.exec)",
                "allow_exec",
            );
        }
        if auth_info.auth_provider.is_some() && !self.allow_exec {
            return refuse(
                "an auth provider (users[].user.auth-provider)",
                "allow_exec",
            );
        }
        if auth_info.token_file.is_some() && !self.allow_token_file {
            return refuse(
                "a token read from a file of the runner (users[].user.tokenFile)",
                "allow_token_file",
            );
        }
        Ok(())
    }

    /// Reads the kubeconfig at `path` and checks it; errors name the file, never its content.
    pub fn load_kubeconfig(&self, path: &Path, context: &str) -> Result<Kubeconfig, String> {
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|err| format!("kubeconfig {}: {}", path.display(), kubeconfig_error(&err)))?;
        self.check_kubeconfig(&kubeconfig, context)
            .map_err(|reason| format!("kubeconfig {}: {reason}", path.display()))?;
        Ok(kubeconfig)
    }
}

/// What went wrong loading a kubeconfig, without the parts that may quote its content (a
/// parser's excerpt, a decoding error over a key).
pub(super) fn kubeconfig_error(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::ReadConfig(io, _) => format!("cannot be read ({io})"),
        KubeconfigError::Parse(_) => "is not a valid kubeconfig (YAML)".to_owned(),
        KubeconfigError::CurrentContextNotSet => "has no current context".to_owned(),
        KubeconfigError::LoadContext(name) => format!("has no context {name:?}"),
        KubeconfigError::LoadClusterOfContext(name) => format!("has no cluster {name:?}"),
        KubeconfigError::MissingClusterUrl => "its cluster has no server URL".to_owned(),
        KubeconfigError::ParseClusterUrl(_) => "its cluster's server URL is invalid".to_owned(),
        KubeconfigError::ParseProxyUrl(_) => "its cluster's proxy URL is invalid".to_owned(),
        KubeconfigError::LoadCertificateAuthority(_) => {
            "its certificate authority cannot be loaded".to_owned()
        }
        KubeconfigError::LoadClientCertificate(_) => {
            "its client certificate cannot be loaded".to_owned()
        }
        KubeconfigError::LoadClientKey(_) => "its client key cannot be loaded".to_owned(),
        KubeconfigError::ParseCertificates(_) => "its certificates are not valid PEM".to_owned(),
        _ => "cannot be used".to_owned(),
    }
}

/// Describes `err` for a step's message: as it is, unless it came from a credential (an exec
/// plugin's output, a token file, an OIDC exchange), which is named by kind only.
pub(super) fn redacted(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(auth) = current.downcast_ref::<AuthError>() {
            return format!(
                "the connection's credentials cannot be used: {}",
                auth_kind(auth)
            );
        }
        if let Some(kube::Error::Auth(auth)) = current.downcast_ref::<kube::Error>() {
            return format!(
                "the connection's credentials cannot be used: {}",
                auth_kind(auth)
            );
        }
        cause = current.source();
    }
    err.to_string()
}

fn auth_kind(err: &AuthError) -> &'static str {
    match err {
        AuthError::AuthExecStart(_)
        | AuthError::AuthExecRun { .. }
        | AuthError::AuthExecParse(_)
        | AuthError::AuthExecSerialize(_)
        | AuthError::AuthExec(_)
        | AuthError::ExecPluginFailed
        | AuthError::MissingCommand
        | AuthError::ExecMissingClusterInfo => {
            "its exec credential plugin failed (its output is not shown)"
        }
        AuthError::ReadTokenFile(..) => "its token file cannot be read",
        AuthError::InvalidBearerToken(_) | AuthError::InvalidBasicAuth(_) => {
            "its token or password is not a valid header value"
        }
        _ => "its credential provider failed (its output is not shown)",
    }
}

#[cfg(test)]
mod tests;
