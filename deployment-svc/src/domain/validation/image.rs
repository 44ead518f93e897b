//! OCI image references, as `docker pull` and the distribution spec read them:
//! `[host[:port]/]path[:tag][@algorithm:hex]`.
//!
//! The grammar is distribution's `reference` package: a path is lowercase components of
//! `[a-z0-9]` joined by `.`, `_`, `__` or runs of `-`; the first component is a registry host
//! when it holds a `.` or a `:`, is `localhost`, or has an upper-case letter. Only the registered
//! digests are accepted (`sha256` with 64 and `sha512` with 128 lowercase hex digits), because
//! registries know no others.

/// Longest name (host and path), as distribution limits it.
const MAX_NAME_LEN: usize = 255;
/// Longest tag.
const MAX_TAG_LEN: usize = 128;

/// The parts of a valid image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageReference<'a> {
    /// Registry host with optional port; `None` for Docker Hub's implicit one.
    pub registry: Option<&'a str>,
    /// Repository path, e.g. `library/odoo` or `odoo`.
    pub path: &'a str,
    /// Tag, e.g. `17.0`.
    pub tag: Option<&'a str>,
    /// Digest, e.g. `sha256:…`.
    pub digest: Option<&'a str>,
}

/// Parses `value` as an image reference, or says what is wrong with it.
pub fn parse_image(value: &str) -> Result<ImageReference<'_>, String> {
    if value.is_empty() {
        return Err("is empty".to_owned());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or a control character".to_owned());
    }
    let (rest, digest) = match value.split_once('@') {
        Some((rest, digest)) => {
            check_digest(digest)?;
            (rest, Some(digest))
        }
        None => (value, None),
    };
    // A ':' after the last '/' starts the tag; an earlier one belongs to the registry's port.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            let tag = &rest[colon + 1..];
            check_tag(tag)?;
            (&rest[..colon], Some(tag))
        }
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err("has no repository name".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name is longer than {MAX_NAME_LEN} characters"));
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if is_registry(first) => {
            check_registry(first)?;
            (Some(first), path)
        }
        _ => (None, name),
    };
    check_path(path)?;
    Ok(ImageReference {
        registry,
        path,
        tag,
        digest,
    })
}

fn is_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.chars().any(char::is_uppercase)
}

fn check_registry(registry: &str) -> Result<(), String> {
    let port = if let Some(bracketed) = registry.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("registry {registry:?} has an unclosed '['"))?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry {registry:?} is not a valid IPv6 address"));
        }
        match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("registry {registry:?} is malformed"))?,
            ),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        check_hostname(host).map_err(|why| format!("registry host {host:?} {why}"))?;
        port
    };
    if let Some(port) = port {
        check_port(port).map_err(|why| format!("registry port {port:?} {why}"))?;
    }
    Ok(())
}

/// Checks a DNS host name (letters of either case, digits, inner `-`, dot-separated).
pub(super) fn check_hostname(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("is empty");
    }
    if host.len() > 253 {
        return Err("is longer than 253 characters");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("is not a valid host name")
    }
}

/// Checks a TCP port number, 1 to 65535.
pub(super) fn check_port(port: &str) -> Result<(), &'static str> {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(number) if digits && number > 0 => Ok(()),
        _ => Err("is not a port number (1 to 65535)"),
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.chars().any(char::is_uppercase) {
        return Err(format!("repository {path:?} must be lowercase"));
    }
    for component in path.split('/') {
        if !is_path_component(component) {
            return Err(format!(
                "repository {path:?}: component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Every run of non-alphanumerics lies between two alphanumerics; check each run.
    let mut rest = component;
    while let Some(start) = rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
        let run_len = rest[start..]
            .find(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        let separator = &rest[start..start + run_len];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
        rest = &rest[start + run_len..];
    }
    true
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err("has an empty tag after ':'".to_owned()),
        _ if tag.len() > MAX_TAG_LEN => Err(format!("tag is longer than {MAX_TAG_LEN} characters")),
        [first, rest @ ..]
            if word(*first) && rest.iter().all(|b| word(*b) || *b == b'.' || *b == b'-') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "tag {tag:?} must be letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )),
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("digest {digest:?} must be algorithm:hex, e.g. sha256:…"))?;
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "digest algorithm {algorithm:?} is not supported (use sha256 or sha512)"
            ));
        }
    };
    let lower_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() == expected_len && lower_hex {
        Ok(())
    } else {
        Err(format!(
            "{algorithm} digest must be {expected_len} lowercase hexadecimal digits"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_into_their_parts() {
        assert_eq!(
            parse_image("odoo:17.0").unwrap(),
            ImageReference {
                registry: None,
                path: "odoo",
                tag: Some("17.0"),
                digest: None
            }
        );
        let pinned = format!("registry.example:5000/team/app@sha256:{SHA}");
        let parsed = parse_image(&pinned).unwrap();
        assert_eq!(parsed.registry, Some("registry.example:5000"));
        assert_eq!(parsed.path, "team/app");
        assert_eq!(parsed.tag, None);
        assert_eq!(parsed.digest, Some(format!("sha256:{SHA}").as_str()));

        let both = format!("ghcr.io/acme/shop:v1.2.3@sha256:{SHA}");
        let parsed = parse_image(&both).unwrap();
        assert_eq!(
            (parsed.registry, parsed.path, parsed.tag),
            (Some("ghcr.io"), "acme/shop", Some("v1.2.3"))
        );
    }

    #[test]
    fn valid_references_are_accepted() {
        let sha512 = "ab".repeat(64);
        for good in [
            "odoo".to_owned(),
            "library/odoo:18.0".to_owned(),
            "docker.io/library/postgres:16-alpine".to_owned(),
            "localhost/app".to_owned(),
            "localhost:5000/app:latest".to_owned(),
            "[::1]:5000/app:tag".to_owned(),
            "[fe80::1]/app".to_owned(),
            "Registry.Example/app".to_owned(),
            "registry.example/a__b/c-d/e.f/g---h:Tag_1.x-y".to_owned(),
            "10.0.0.1:443/x/y".to_owned(),
            format!("app@sha512:{sha512}"),
            format!("a:{}", "t".repeat(128)),
        ] {
            assert!(
                parse_image(&good).is_ok(),
                "{good:?}: {:?}",
                parse_image(&good)
            );
        }
    }

    #[test]
    fn invalid_references_are_refused_with_a_reason() {
        let upper_sha = SHA.to_uppercase();
        for (bad, reason) in [
            ("", "empty"),
            ("Odoo:17", "lowercase"),
            ("team/App:1", "lowercase"),
            ("registry.example/Team/app", "lowercase"),
            ("odoo:17 .0", "whitespace"),
            (" odoo", "whitespace"),
            ("odoo\n", "whitespace"),
            ("odoo:", "empty tag"),
            ("odoo:.bad", "tag"),
            ("odoo:-bad", "tag"),
            ("odoo:a/b", "port"),
            (":17.0", "no repository"),
            ("odoo@sha256:abc", "64 lowercase"),
            ("odoo@sha256", "algorithm:hex"),
            ("odoo@md5:d41d8cd98f00b204e9800998ecf8427e", "not supported"),
            ("registry.example:99999/app", "port"),
            ("registry.example:/app", "port"),
            ("registry..example/app", "host"),
            ("-registry.example/app", "host"),
            ("[::1/app", "unclosed"),
            ("[zz::1]:5000/app", "IPv6"),
            ("-app:1", "component"),
            ("app-:1", "component"),
            ("a..b", "component"),
            ("a___b", "component"),
            ("a//b", "component"),
            ("/app", "component"),
            ("app/", "component"),
            ("registry.example/", "component"),
        ] {
            let why = parse_image(bad).expect_err(bad);
            assert!(why.contains(reason), "{bad:?}: {why:?} lacks {reason:?}");
        }
        let why = parse_image(&format!("odoo@sha256:{upper_sha}")).unwrap_err();
        assert!(why.contains("lowercase hexadecimal"), "{why}");
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(parse_image(&long_tag).unwrap_err().contains("longer"));
        let long_name = format!("{}:1", "a".repeat(256));
        assert!(parse_image(&long_name).unwrap_err().contains("longer"));
        let two_digests = format!("app@sha256:{SHA}@sha256:{SHA}");
        assert!(parse_image(&two_digests).is_err());
    }
}
