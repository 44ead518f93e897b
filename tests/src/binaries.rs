//! Locating, and building when needed, the binaries under test.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// The binaries the end-to-end tests start, and the packages that build them.
const BINARIES: &[(&str, &str)] = &[
    ("eyrie", "eyrie"),
    ("deployment-svc", "eyrie-deployment-svc"),
    ("book-runner-svc", "eyrie-book-runner-svc"),
    ("version-svc", "eyrie-version-svc"),
    ("gateway", "eyrie-gateway"),
];

/// Path of binary `name`, built with the profile of the running test.
///
/// # Panics
/// When `cargo build` fails: a test cannot run without its binaries.
pub fn binary(name: &str) -> PathBuf {
    let profile_dir = profile_dir();
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| build_all(profile_dir));
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// `target/<profile>`: test executables live in its `deps` folder.
fn profile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let deps = exe.parent().expect("test executable folder");
        deps.parent().expect("profile folder").to_path_buf()
    })
}

fn build_all(profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = profile_dir.parent().expect("target folder");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => "dev",
    };
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--profile", profile, "--target-dir"])
        .arg(target_dir);
    for (binary, package) in BINARIES {
        command.args(["--package", package, "--bin", binary]);
    }
    // Cargo gives a running test its package's variables; a build script that watches one
    // (ring watches CARGO_MANIFEST_DIR) would otherwise rebuild on every alternation.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let per_package = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
        ];
        if per_package.iter().any(|prefix| key.starts_with(prefix)) {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .status()
        .expect("cannot run cargo to build the binaries");
    assert!(status.success(), "building the binaries under test failed");
}
