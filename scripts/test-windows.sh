#!/usr/bin/env bash
# Builds pipeway for Windows (x86_64-pc-windows-gnu) and runs its tests
# under Wine: lints, docs, and `cargo test` (unit, integration and doc
# tests), on a fresh Debian 12 machine or an already set up one.
#   usage: scripts/test-windows.sh          (as root the first time: it installs packages)
#
# The toolchain comes from scripts/windows-toolchain.sh (Debian's rustc-web
# 1.96 and its std sources, mingw-w64, Wine 8); it is set up once under
# $PIPEWAY_WINDOWS_BASE (default /opt/pipeway-windows) and found there
# afterwards. The build keeps its own target directory
# ($PIPEWAY_WINDOWS_TARGET_DIR, default target/windows): the Windows std is
# built there once (-Zbuild-std) and reused.
#
# Tests that show a Windows behaviour Wine does not emulate are marked
# #[cfg_attr(wine, ignore = "why")]: this script builds with `--cfg wine`,
# so they show up as ignored, with the reason. Without it (a real Windows
# machine) they run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== windows: %s\n' "$*"; }

BASE=${PIPEWAY_WINDOWS_BASE:-/opt/pipeway-windows}
export PIPEWAY_WINDOWS_BASE=$BASE
TARGET=x86_64-pc-windows-gnu

log "toolchain"
scripts/windows-toolchain.sh
# shellcheck disable=SC1091
. "$BASE/env.sh"
export CARGO_TARGET_DIR=${PIPEWAY_WINDOWS_TARGET_DIR:-$PWD/target/windows}
export RUSTFLAGS="--cfg wine"
BUILD=(-Zbuild-std=std,panic_abort --target "$TARGET" -p pipeway)

log "clippy"
cargo clippy "${BUILD[@]}" --all-targets --all-features -- -D warnings
cargo clippy "${BUILD[@]}" --no-default-features -- -D warnings

log "docs"
RUSTDOCFLAGS="--cfg wine -D warnings" cargo doc "${BUILD[@]}" --no-deps --all-features

log "tests, under Wine"
cargo test "${BUILD[@]}" --all-features
# Wine leaves its server running for a few seconds; wait for it, so that
# nothing of this run outlives the script.
/usr/lib/wine/wineserver -w || true

log "Windows tests passed"
