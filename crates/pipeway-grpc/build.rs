//! Generates the Rust code of the protos: `buy.proto` (public, in
//! `pipeway_grpc::buy`) and `pipetest.proto` (the tests' and benchmark's
//! service, which they include from `OUT_DIR`).
//!
//! prost needs `protoc`. A `PROTOC` variable wins; otherwise the `protoc`
//! bundled by `protoc-bin-vendored` is used, so a machine with no protobuf
//! compiler installed still builds this crate.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    println!("cargo:rerun-if-env-changed=PROTOC");
    // Naming PROTOC above turns off Cargo's default of rerunning on any
    // change in the package: name the protos too, or edits to them are ignored.
    println!("cargo:rerun-if-changed=proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .bytes(".pipetest.Chunk.data")
        .compile_with_config(
            config,
            &["proto/buy.proto", "proto/pipetest.proto"],
            &["proto"],
        )?;
    Ok(())
}
