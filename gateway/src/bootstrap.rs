//! The first global-admin token, so that a fresh installation can be used at all.

use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::OpenOptionsExt as _,
    path::Path,
};

use rand::RngCore as _;

/// Prefix of every token, so a leaked one is easy to recognise in a secret scanner.
const TOKEN_PREFIX: &str = "eyr_";

/// Creates a new random token: 32 bytes from the OS generator, hex-encoded.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Reads the token kept in `path`, or creates the file (mode 0600) with a new token.
///
/// Replicas that start together on a fresh volume all get the same token: the new token is
/// written whole under a name of its own, then linked into place, which fails when another
/// replica's token got there first (that one is read then). No replica ever reads an empty or
/// half-written file, and none overwrites another's token.
pub fn load_or_create_token(path: &Path) -> io::Result<String> {
    match read_token(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        found => return found,
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let token = generate_token();
    let draft = parent.join(format!(".admin-token-{}", generate_token()));
    let linked = write_private(&draft, &token).and_then(|()| fs::hard_link(&draft, path));
    let _ = fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok(token),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => read_token(path),
        Err(err) => Err(err),
    }
}

fn read_token(path: &Path) -> io::Result<String> {
    let token = fs::read_to_string(path)?.trim().to_owned();
    if token.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(token)
}

fn write_private(path: &Path, token: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{token}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn first_start_creates_a_private_token_file_that_later_starts_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-token");

        let first = load_or_create_token(&path).unwrap();
        assert!(first.starts_with(TOKEN_PREFIX) && first.len() == TOKEN_PREFIX.len() + 64);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner may read the token");

        assert_eq!(load_or_create_token(&path).unwrap(), first);
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(generate_token(), generate_token());
    }
}
