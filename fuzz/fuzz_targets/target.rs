//! Every fuzz target: this file, built once per `bin` line in Cargo.toml.
//! The binary's name picks the decoder (see src/lib.rs).
#![no_main]

use std::sync::LazyLock;

static RUN: LazyLock<fn(&[u8])> = LazyLock::new(|| pipeway_fuzz::target(env!("CARGO_BIN_NAME")));

libfuzzer_sys::fuzz_target!(|data: &[u8]| RUN(data));
