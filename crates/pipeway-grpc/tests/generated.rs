//! The gRPC code generated from `proto/` is committed, so that building this
//! crate needs neither protoc nor prost-build. This test generates it again
//! and fails if the committed files differ from what the protos give now.
//!
//! After changing a proto: `PIPEWAY_REGENERATE=1 cargo test -p pipeway-grpc --test generated`.
//!
//! (Unix: the vendored protoc is run as a Linux program.)
#![cfg(unix)]

use std::path::{Path, PathBuf};

/// Each proto and where its generated code is committed.
const GENERATED: &[(&str, &str, &str)] = &[
    // (proto, file prost names after its package, committed copy)
    ("proto/buy.proto", "_.rs", "src/generated/buy.rs"),
    (
        "proto/pipetest.proto",
        "pipetest.rs",
        "tests/common/pipetest.rs",
    ),
];

fn generate(out: &Path) {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("the vendored protoc");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    let protos: Vec<&str> = GENERATED.iter().map(|(proto, _, _)| *proto).collect();
    tonic_prost_build::configure()
        .bytes(".pipetest.Chunk.data")
        .out_dir(out)
        .compile_with_config(config, &protos, &["proto"])
        .expect("generating the gRPC code");
}

#[test]
fn the_committed_grpc_code_is_what_the_protos_generate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pipeway-grpc-generated-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    generate(&out);
    let regenerate = std::env::var_os("PIPEWAY_REGENERATE").is_some();
    for (proto, generated, committed) in GENERATED {
        let fresh = std::fs::read_to_string(out.join(generated)).unwrap();
        let committed = root.join(committed);
        if regenerate {
            std::fs::write(&committed, &fresh).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            current == fresh,
            "{} is not what {proto} generates; run \
             PIPEWAY_REGENERATE=1 cargo test -p pipeway-grpc --test generated",
            committed.display()
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
