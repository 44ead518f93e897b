//! Compiles the contracts with protox (pure Rust, no system protoc) and generates the tonic code.
//!
//! Two descriptor sets are written next to the generated code: `eyrie_public.bin` holds the
//! public `eyrie.v1` package only (what the gateway reflects), `eyrie_all.bin` holds every file
//! (what the internal services reflect).

use std::{env, fs, io, path::PathBuf};

use prost::Message;
use prost_types::FileDescriptorSet;

const PUBLIC_PACKAGE_DIR: &str = "eyrie/v1";
const INTERNAL_PACKAGE_DIR: &str = "eyrie/internal/v1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=eyrie");

    let mut files = proto_files(PUBLIC_PACKAGE_DIR)?;
    files.extend(proto_files(INTERNAL_PACKAGE_DIR)?);

    let all = protox::Compiler::new(["."])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?
        .file_descriptor_set();

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("eyrie_all.bin"), all.encode_to_vec())?;
    fs::write(
        out_dir.join("eyrie_public.bin"),
        public_only(&all).encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        // Services whose logic is not written yet answer UNIMPLEMENTED instead of failing to build.
        .generate_default_stubs(true)
        .compile_fds(all)?;
    Ok(())
}

/// Lists the `.proto` files of one package directory, sorted so builds are reproducible.
fn proto_files(dir: &str) -> io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files.sort();
    Ok(files)
}

/// Keeps the public package and the well-known types it imports, dropping the internal package.
fn public_only(all: &FileDescriptorSet) -> FileDescriptorSet {
    let internal_package = INTERNAL_PACKAGE_DIR.replace('/', ".");
    FileDescriptorSet {
        file: all
            .file
            .iter()
            .filter(|file| file.package() != internal_package)
            .cloned()
            .collect(),
    }
}
