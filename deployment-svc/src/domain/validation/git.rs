//! Git branch names and repository locations.

use super::image::{check_hostname, check_port};

/// Longest branch name accepted (git itself has no limit, but ref files do).
const MAX_BRANCH_LEN: usize = 255;
/// Longest repository location accepted.
const MAX_REPOSITORY_LEN: usize = 2048;
/// URL schemes git fetches over that make sense for a control plane. `file://` is refused: it
/// names a path on whichever host runs the job, not a shared repository.
const SCHEMES: &[&str] = &["https", "http", "ssh", "git"];

/// What is wrong with `name` as a branch, by the rules of `git check-ref-format --branch`.
pub fn branch_problem(name: &str) -> Option<String> {
    const FORBIDDEN: &[char] = &[' ', '~', '^', ':', '?', '*', '[', '\\'];
    let problem = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_BRANCH_LEN {
        format!("is longer than {MAX_BRANCH_LEN} bytes")
    } else if name.starts_with('-') {
        "must not start with '-'".to_owned()
    } else if name == "HEAD" || name == "@" {
        format!("{name:?} is reserved by git")
    } else if name.chars().any(|c| c.is_ascii_control()) {
        "must not contain control characters".to_owned()
    } else if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        format!("must not contain {c:?} (nor space, '~', '^', ':', '?', '*', '[', '\\\\')")
    } else if name.contains("..") {
        "must not contain \"..\"".to_owned()
    } else if name.contains("@{") {
        "must not contain \"@{\"".to_owned()
    } else if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        "must not start or end with '/' nor contain \"//\"".to_owned()
    } else if name.ends_with('.') {
        "must not end with '.'".to_owned()
    } else if name.split('/').any(|part| part.starts_with('.')) {
        "no '/'-separated part may start with '.'".to_owned()
    } else if name.split('/').any(|part| part.ends_with(".lock")) {
        "no '/'-separated part may end with \".lock\"".to_owned()
    } else {
        return None;
    };
    Some(problem)
}

/// What is wrong with `location` as a repository: a URL over https, http, ssh or git, or the
/// scp-like `user@host:path`.
pub fn repository_problem(location: &str) -> Option<String> {
    if location.is_empty() {
        return Some("is empty".to_owned());
    }
    if location.len() > MAX_REPOSITORY_LEN {
        return Some(format!("is longer than {MAX_REPOSITORY_LEN} characters"));
    }
    if location
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Some("contains whitespace or a control character".to_owned());
    }
    let outcome = match location.split_once("://") {
        Some((scheme, rest)) => check_url(scheme, rest),
        None => check_scp_like(location),
    };
    outcome.err()
}

fn check_url(scheme: &str, rest: &str) -> Result<(), String> {
    let scheme = scheme.to_ascii_lowercase();
    if !SCHEMES.contains(&scheme.as_str()) {
        return Err(format!(
            "scheme {scheme:?} is not supported: use https://, http://, ssh://, git:// or git@host:path"
        ));
    }
    let (authority, path) = rest
        .split_once('/')
        .ok_or_else(|| "has no repository path after the host".to_owned())?;
    if path.is_empty() {
        return Err("has no repository path after the host".to_owned());
    }
    if path.contains(['?', '#']) {
        return Err("must not have a query or a fragment".to_owned());
    }
    let host_port = match authority.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err("must not embed a password; give the runner its credentials".to_owned());
        }
        Some(_) if scheme.starts_with("http") => {
            return Err(
                "must not embed credentials in an http(s) URL; give the runner its credentials"
                    .to_owned(),
            );
        }
        Some((user, host_port)) => {
            check_user(user)?;
            host_port
        }
        None => authority,
    };
    check_host_port(host_port)
}

fn check_host_port(host_port: &str) -> Result<(), String> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("host {host_port:?} has an unclosed '['"))?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("host {host_port:?} is not a valid IPv6 address"));
        }
        match after {
            "" => return Ok(()),
            _ => (
                None,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("host {host_port:?} is malformed"))?,
                ),
            ),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(host_port), None),
        }
    };
    if let Some(host) = host {
        check_hostname(host).map_err(|why| format!("host {host:?} {why}"))?;
    }
    if let Some(port) = port {
        check_port(port).map_err(|why| format!("port {port:?} {why}"))?;
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), String> {
    let valid = !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "user {user:?} must be letters, digits, '.', '_' or '-'"
        ))
    }
}

fn check_scp_like(location: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "{location:?} is neither a URL (https://, ssh://, git://) nor of the form git@host:path"
        )
    };
    let (user, rest) = location.split_once('@').ok_or_else(expected)?;
    let (host, path) = rest.split_once(':').ok_or_else(expected)?;
    check_user(user)?;
    check_hostname(host).map_err(|why| format!("host {host:?} {why}"))?;
    if path.is_empty() || path == "/" {
        return Err("has no repository path after ':'".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_branches_pass() {
        for good in [
            "main",
            "17.0",
            "feature/odoo-18",
            "release/2026.11/fix_1",
            "a.b",
            "héllo",
            "v1@2",
            "x-",
        ] {
            assert_eq!(branch_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn invalid_branches_say_why() {
        for (bad, reason) in [
            ("", "empty"),
            ("-main", "start with '-'"),
            ("HEAD", "reserved"),
            ("@", "reserved"),
            ("a..b", "\"..\""),
            ("a~1", "'~'"),
            ("a^1", "'^'"),
            ("a:b", "':'"),
            ("a?b", "'?'"),
            ("a*b", "'*'"),
            ("a[b", "'['"),
            ("a\\b", "'\\\\'"),
            ("a b", "' '"),
            ("a\tb", "control"),
            ("a\u{7f}b", "control"),
            ("a@{1}", "\"@{\""),
            ("/main", "'/'"),
            ("main/", "'/'"),
            ("a//b", "\"//\""),
            ("main.", "end with '.'"),
            (".hidden", "start with '.'"),
            ("a/.b", "start with '.'"),
            ("main.lock", ".lock"),
            ("a.lock/b", ".lock"),
        ] {
            let why = branch_problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(why.contains(reason), "{bad:?}: {why:?} lacks {reason:?}");
        }
        assert!(branch_problem(&"b".repeat(256)).is_some());
    }

    #[test]
    fn repositories_are_urls_or_scp_like() {
        for good in [
            "https://github.com/odoo/odoo.git",
            "http://git.internal:8080/team/app",
            "ssh://git@github.com/acme/shop.git",
            "ssh://git@[::1]:2222/srv/repo.git",
            "SSH://git@host/x",
            "git://git.kernel.org/pub/scm/git/git.git",
            "git@github.com:acme/shop.git",
            "deploy.bot@git.example:/srv/repo.git",
        ] {
            assert_eq!(repository_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn bad_repositories_say_why() {
        for (bad, reason) in [
            ("", "empty"),
            ("github.com/acme/shop", "neither a URL"),
            ("acme/shop", "neither a URL"),
            ("file:///srv/repo.git", "not supported"),
            ("ftp://host/repo", "not supported"),
            ("https://github.com", "no repository path"),
            ("https://github.com/", "no repository path"),
            ("https://user:secret@github.com/a/b", "password"),
            ("https://token@github.com/a/b", "credentials"),
            ("https://github.com/a/b?x=1", "query"),
            ("https://git hub.com/a", "whitespace"),
            ("https://-bad.example/a", "host"),
            ("https://host:0/a", "port"),
            ("https://host:70000/a", "port"),
            ("https://[::1/a", "unclosed"),
            ("git@github.com:", "no repository path"),
            ("git@:acme/shop", "host"),
            ("g!t@github.com:a", "user"),
        ] {
            let why = repository_problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(why.contains(reason), "{bad:?}: {why:?} lacks {reason:?}");
        }
    }
}
