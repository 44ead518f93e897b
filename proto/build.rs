//! Compiles the contracts with protox (pure Rust, no system protoc) and generates the tonic code.
//!
//! Two descriptor sets are written next to the generated code: `eyrie_public.bin` holds the
//! public `eyrie.v1` package only (what the gateway reflects), `eyrie_all.bin` holds every file
//! (what the internal services reflect). Both keep the custom options (`eyrie.v1.access_rule`),
//! which the gateway reads to build its access table: they are written from protox's own
//! encoding, never re-encoded through `prost_types`, which would drop extension values.

use std::{env, fs, io, path::PathBuf};

use prost::{
    Message,
    bytes::Buf as _,
    encode_length_delimiter,
    encoding::{WireType, decode_key, decode_varint, encode_key, skip_field},
};
use prost_types::FileDescriptorProto;

const PUBLIC_PACKAGE_DIR: &str = "eyrie/v1";
const INTERNAL_PACKAGE_DIR: &str = "eyrie/internal/v1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=eyrie");

    let mut files = proto_files(PUBLIC_PACKAGE_DIR)?;
    files.extend(proto_files(INTERNAL_PACKAGE_DIR)?);

    let mut compiler = protox::Compiler::new(["."])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let encoded = compiler.encode_file_descriptor_set();
    let all = compiler.file_descriptor_set();

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("eyrie_all.bin"), &encoded)?;
    fs::write(out_dir.join("eyrie_public.bin"), public_only(&encoded)?)?;

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
///
/// Works on the encoded set (`repeated FileDescriptorProto file = 1`), copying each kept file's
/// bytes as they are so that its options keep their extensions.
fn public_only(mut set: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let internal_package = INTERNAL_PACKAGE_DIR.replace('/', ".");
    let mut public = Vec::with_capacity(set.len());
    while set.has_remaining() {
        let (number, wire_type) = decode_key(&mut set)?;
        if number != 1 || wire_type != WireType::LengthDelimited {
            skip_field(wire_type, number, &mut set, Default::default())?;
            continue;
        }
        let len = usize::try_from(decode_varint(&mut set)?)
            .map_err(|_| "a file descriptor too long for this machine")?;
        if len > set.len() {
            return Err("a truncated file descriptor".into());
        }
        let (file, rest) = set.split_at(len);
        set = rest;
        if FileDescriptorProto::decode(file)?.package() != internal_package {
            encode_key(1, WireType::LengthDelimited, &mut public);
            encode_length_delimiter(len, &mut public)?;
            public.extend_from_slice(file);
        }
    }
    Ok(public)
}
