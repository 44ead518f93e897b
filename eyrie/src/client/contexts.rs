//! The client's config file: named contexts, each a server and the credentials to call it with,
//! and the current one. This module reads and writes the file; `connection` decides what a
//! command uses.
//!
//! ```toml
//! current_context = "prod"
//!
//! [contexts.prod]
//! server = "https://eyrie.example.com"
//! token_file = "/home/me/.config/eyrie/prod.token"
//! ca_file = "/home/me/.config/eyrie/prod-ca.pem"
//! ```
//!
//! The file may hold API tokens (`token = "..."`), so it is written with mode 0600, through a
//! temporary file renamed over it, and is refused when other users could read a token in it or
//! change it (and so send your token to a server of theirs), as ssh refuses a loose private key.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    io::Write as _,
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::error::CliError;

/// The variable naming another config file (tests, several setups side by side). Not
/// `EYRIE_CONFIG`: that one is `eyrie serve --config`, a service's configuration.
pub const CONFIG_VARIABLE: &str = "EYRIE_CLIENT_CONFIG";

/// Longest context name.
const MAX_NAME_LEN: usize = 64;

/// The whole config file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The context commands use when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Contexts by name.
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextEntry>,
}

/// One context: a gateway and how to call it. Relative paths are taken from the file's directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    /// Gateway address, `http://host:port` or `https://host:port`.
    pub server: String,
    /// A file holding the API token (preferred: the config file then holds no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The API token itself.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_token"
    )]
    pub token: Option<SecretString>,
    /// CA certificate (PEM) the gateway's certificate must be signed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl ContextEntry {
    /// This context with its relative paths taken from `base`, the config file's directory.
    pub fn with_paths_from(&self, base: &Path) -> Self {
        let resolve = |path: &Option<PathBuf>| path.as_ref().map(|path| base.join(path));
        Self {
            server: self.server.clone(),
            token_file: resolve(&self.token_file),
            token: self.token.clone(),
            ca_file: resolve(&self.ca_file),
            cert_file: resolve(&self.cert_file),
            key_file: resolve(&self.key_file),
        }
    }

    /// What is wrong with this context, if anything.
    fn check(&self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("server is empty".into());
        }
        if self.token.is_some() && self.token_file.is_some() {
            return Err("has both token and token_file: keep one".into());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err("cert_file and key_file go together".into());
        }
        Ok(())
    }
}

/// Writes the token itself: the one place it leaves its `SecretString`.
fn expose_token<S: Serializer>(
    token: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match token {
        Some(token) => serializer.serialize_str(token.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// The config file as read, with where it was read from.
#[derive(Debug)]
pub struct Loaded {
    /// The file (it may not exist yet).
    pub path: PathBuf,
    /// Its contents; empty when the file does not exist.
    pub file: ConfigFile,
}

impl Loaded {
    /// The directory relative paths in the file are taken from.
    pub fn base(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The context called `name`, or a usage error naming the known ones.
    pub fn context(&self, name: &str) -> Result<&ContextEntry, CliError> {
        self.file.contexts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.file.contexts.keys().map(String::as_str).collect();
            let path = self.path.display();
            CliError::Usage(if known.is_empty() {
                format!(
                    "unknown context {name:?}: {path} defines no contexts (add one with `eyrie \
                     context set {name} --server URL`)"
                )
            } else {
                format!(
                    "unknown context {name:?}; known contexts: {} (in {path})",
                    known.join(", ")
                )
            })
        })
    }
}

/// Where the config file is: `$EYRIE_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/eyrie/config.toml`,
/// else `$HOME/.config/eyrie/config.toml`; `None` without any of them. `var` reads a variable.
pub fn path_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| {
        var(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(path) = set(CONFIG_VARIABLE) {
        return Some(path);
    }
    // The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored.
    let config_home = set("XDG_CONFIG_HOME")
        .filter(|dir| dir.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".config")))?;
    Some(config_home.join("eyrie").join("config.toml"))
}

/// The config file of this process's environment.
pub fn path() -> Result<PathBuf, CliError> {
    path_from(|name| std::env::var_os(name)).ok_or_else(|| {
        CliError::Usage(format!(
            "no config file: set HOME, XDG_CONFIG_HOME or {CONFIG_VARIABLE}"
        ))
    })
}

/// Reads the config file at `path`; a missing file is an empty one.
pub fn load(path: &Path) -> Result<Loaded, CliError> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                path: path.to_owned(),
                file: ConfigFile::default(),
            });
        }
        Err(err) => return Err(CliError::Usage(format!("cannot read {shown}: {err}"))),
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|err| {
        // The message and line only: the parser's excerpt of the file could show a token.
        let line = err
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
            .unwrap_or_default();
        CliError::Usage(format!(
            "{shown} is not a valid config file: {}{line}",
            err.message()
        ))
    })?;
    for (name, context) in &file.contexts {
        check_name(name).map_err(|err| CliError::Usage(format!("{shown}: {err}")))?;
        context
            .check()
            .map_err(|err| CliError::Usage(format!("{shown}: context {name:?} {err}")))?;
    }
    let holds_token = file.contexts.values().any(|c| c.token.is_some());
    check_permissions(path, holds_token)?;
    Ok(Loaded {
        path: path.to_owned(),
        file,
    })
}

/// Refuses a file other users may change, or read when it holds a token.
#[cfg(unix)]
fn check_permissions(path: &Path, holds_token: bool) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt as _;

    let shown = path.display();
    let mode = std::fs::metadata(path)
        .map_err(|err| CliError::Usage(format!("cannot read {shown}: {err}")))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(CliError::Usage(format!(
            "{shown} may be changed by other users, who could send your token to a server of \
             theirs: run `chmod 600 {shown}`"
        )));
    }
    if holds_token && mode & 0o044 != 0 {
        return Err(CliError::Usage(format!(
            "{shown} holds an API token and other users may read it: run `chmod 600 {shown}`, \
             and replace the token if they could have read it (or move it to a token_file)"
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _holds_token: bool) -> Result<(), CliError> {
    Ok(())
}

/// Writes `file` to `path`, readable by its owner only: a temporary file in the same directory,
/// renamed over the old one, so a reader never sees half a file and a crash loses no contexts.
pub fn save(path: &Path, file: &ConfigFile) -> Result<(), CliError> {
    // Through a symbolic link, the file it points to is replaced, not the link.
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let shown = path.display();
    let fail = |what: &str, err: &dyn std::fmt::Display| {
        CliError::Usage(format!("cannot {what} {shown}: {err}"))
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_private_dir(dir).map_err(|err| fail("create the directory of", &err))?;
    let text = toml::to_string_pretty(file).map_err(|err| fail("write", &err))?;
    let prefix = path.file_name().map_or_else(
        || ".config".into(),
        |name| format!(".{}.", name.to_string_lossy()),
    );
    // tempfile creates the file with mode 0600.
    let mut temporary = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|err| fail("write", &err))?;
    temporary
        .write_all(text.as_bytes())
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|err| fail("write", &err))?;
    temporary
        .persist(&path)
        .map_err(|err| fail("write", &err.error))?;
    Ok(())
}

/// Creates `dir` and its missing parents, the new ones with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Context names: 1 to 64 letters, digits, `-`, `_` and `.`, starting with a letter or digit (so
/// never taken for an option).
pub fn check_name(name: &str) -> Result<(), String> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid context name: use 1 to {MAX_NAME_LEN} letters, digits, '-', \
             '_' and '.', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into())
        }
    }

    #[test]
    fn the_file_is_found_by_variable_then_xdg_then_home() {
        let all = [
            ("EYRIE_CLIENT_CONFIG", "/etc/e.toml"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(path_from(env(&all)), Some("/etc/e.toml".into()));
        assert_eq!(
            path_from(env(&all[1..])),
            Some("/x/eyrie/config.toml".into())
        );
        assert_eq!(
            path_from(env(&all[2..])),
            Some("/h/.config/eyrie/config.toml".into())
        );
        // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says; empty means unset.
        let relative = [("XDG_CONFIG_HOME", "x"), ("HOME", "/h")];
        assert_eq!(
            path_from(env(&relative)),
            Some("/h/.config/eyrie/config.toml".into())
        );
        let empty = [("EYRIE_CLIENT_CONFIG", ""), ("HOME", "/h")];
        assert_eq!(
            path_from(env(&empty)),
            Some("/h/.config/eyrie/config.toml".into())
        );
        assert_eq!(path_from(env(&[])), None);
    }

    #[test]
    fn saved_contexts_read_back_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/eyrie/config.toml");
        let mut file = ConfigFile::default();
        file.contexts.insert(
            "prod".into(),
            ContextEntry {
                server: "https://eyrie.example.com".into(),
                token: Some("s3cret".into()),
                ..Default::default()
            },
        );
        file.current_context = Some("prod".into());
        save(&path, &file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.file.current_context.as_deref(), Some("prod"));
        let prod = loaded.context("prod").unwrap();
        assert_eq!(prod.token.as_ref().unwrap().expose_secret(), "s3cret");
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.toml"]);
    }

    #[test]
    fn a_missing_file_has_no_contexts_and_unknown_names_list_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&dir.path().join("config.toml")).unwrap();
        assert!(loaded.file.contexts.is_empty());
        let CliError::Usage(message) = loaded.context("prod").unwrap_err() else {
            panic!("a usage error");
        };
        assert!(message.contains("defines no contexts"), "{message}");

        let path = dir.path().join("two.toml");
        let text = "[contexts.a]\nserver = \"http://a:1\"\n[contexts.b]\nserver = \"http://b:1\"\n";
        write_private(&path, text);
        let CliError::Usage(message) = load(&path).unwrap().context("c").unwrap_err() else {
            panic!("a usage error");
        };
        assert!(message.contains("known contexts: a, b"), "{message}");
    }

    #[test]
    fn malformed_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("[contexts.a]\nsrv = \"x\"\n", "unknown field"),
            ("[contexts.a]\n", "missing field `server`"),
            (
                "[contexts.a]\nserver = \"http://a\"\ntoken = \"t\"\ntoken_file = \"f\"\n",
                "both token and token_file",
            ),
            (
                "[contexts.a]\nserver = \"https://a\"\ncert_file = \"c\"\n",
                "cert_file and key_file go together",
            ),
            (
                "[contexts.\"-a\"]\nserver = \"http://a\"\n",
                "not a valid context name",
            ),
            // A syntax error names the line, never quoting it: it could hold a token.
            (
                "[contexts.a]\nserver = \"http://a\"\ntoken = \"s3cret\n",
                "(line 3)",
            ),
        ] {
            let path = dir.path().join("config.toml");
            write_private(&path, text);
            let CliError::Usage(message) = load(&path).unwrap_err() else {
                panic!("a usage error");
            };
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(message.contains("config.toml"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_refused_when_they_expose_or_endanger_a_token() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let chmod = |mode| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        std::fs::write(
            &path,
            "[contexts.a]\nserver = \"http://a\"\ntoken = \"t\"\n",
        )
        .unwrap();
        chmod(0o644);
        let CliError::Usage(message) = load(&path).unwrap_err() else {
            panic!("a usage error");
        };
        assert!(message.contains("chmod 600"), "{message}");
        assert!(!message.contains("\"t\""), "{message}");
        chmod(0o600);
        load(&path).unwrap();

        // Without an inline token a readable file is fine; a writable one never is.
        std::fs::write(&path, "[contexts.a]\nserver = \"http://a\"\n").unwrap();
        chmod(0o644);
        load(&path).unwrap();
        chmod(0o664);
        assert!(load(&path).is_err());
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let entry = ContextEntry {
            server: "http://a".into(),
            token: Some("s3cret".into()),
            ..Default::default()
        };
        assert!(!format!("{entry:?}").contains("s3cret"));
    }

    #[test]
    fn context_names_are_plain_words() {
        for good in ["prod", "Prod-2", "eu.west_1", &"a".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    fn write_private(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}
