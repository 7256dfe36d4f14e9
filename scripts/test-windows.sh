#!/usr/bin/env bash
# Builds pipeway's workspace for Windows (x86_64-pc-windows-gnu) and runs
# its tests under Wine: lints, docs, and `cargo test` (unit, integration and
# doc tests, the CLI in processes of its own), on a fresh Debian 12 machine
# or an already set up one.
#   usage: scripts/test-windows.sh          (as root the first time: it installs packages)
#
# The toolchain comes from scripts/windows-toolchain.sh (Debian's rustc-web
# 1.96 and its std sources, mingw-w64, Wine 8); it is set up once under
# $PIPEWAY_WINDOWS_BASE (default /opt/pipeway-windows) and found there
# afterwards. The build keeps its own target directory
# ($PIPEWAY_WINDOWS_TARGET_DIR, default target/windows).
#
# Building std (-Zbuild-std) and the dependencies is most of the cost, so
# nothing is built twice that need not be: the lints run as the tests build
# (clippy-driver compiles the workspace's own crates, with -D warnings), so
# std and every dependency are compiled once, fully, for both. Only the docs
# need another, metadata-only, build of std and the dependencies.
#
# Left out: the Samba test bed and the remote-pipe crate tested against it
# (pipeway-testbed, pipeway-smb), which need Linux network namespaces.
#
# Tests that show a Windows behaviour Wine does not emulate are marked
# #[cfg_attr(wine, ignore = "why")]: this script builds with `--cfg wine`,
# so they show up as ignored, with the reason. Without it (a real Windows
# machine) they run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== windows: %s (%ds)\n' "$*" "$SECONDS"; }

BASE=${PIPEWAY_WINDOWS_BASE:-/opt/pipeway-windows}
export PIPEWAY_WINDOWS_BASE=$BASE
TARGET=x86_64-pc-windows-gnu

log "toolchain"
scripts/windows-toolchain.sh
# shellcheck disable=SC1091
. "$BASE/env.sh"
export CARGO_TARGET_DIR=${PIPEWAY_WINDOWS_TARGET_DIR:-$PWD/target/windows}
export RUSTFLAGS="--cfg wine"
# Line tables only (backtraces keep file and line): full debug info makes
# every test executable ~120 MB, and linking them most of a warm run. No
# incremental state: a test build is not edited and rebuilt.
export CARGO_PROFILE_DEV_DEBUG=line-tables-only CARGO_INCREMENTAL=0
BUILD=(-Zbuild-std=std,panic_abort --target "$TARGET")
WORKSPACE=(--workspace --exclude pipeway-testbed --exclude pipeway-smb)

# clippy-driver as the workspace's compiler, with warnings denied: what
# `cargo clippy -- -D warnings` checks, in a build that also links.
# CLIPPY_ARGS is how cargo-clippy hands clippy-driver its lint flags (no
# shell script in between: a shell drops CARGO_BIN_EXE_pipeway-bench, whose
# name holds a hyphen, from the environment).
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
LINT=$(command -v clippy-driver)

log "build and lint every target"
RUSTC_WORKSPACE_WRAPPER=$LINT cargo test "${BUILD[@]}" "${WORKSPACE[@]}" --all-features \
  --all-targets --no-run
# The core without its tokio face: only the pipeway crate is rebuilt.
RUSTC_WORKSPACE_WRAPPER=$LINT cargo build "${BUILD[@]}" -p pipeway --no-default-features

log "docs"
RUSTDOCFLAGS="--cfg wine -D warnings" cargo doc "${BUILD[@]}" "${WORKSPACE[@]}" --no-deps \
  --all-features

log "tests, under Wine"
RUSTC_WORKSPACE_WRAPPER=$LINT cargo test "${BUILD[@]}" "${WORKSPACE[@]}" --all-features
# Wine leaves its server running for a few seconds; wait for it, so that
# nothing of this run outlives the script.
/usr/lib/wine/wineserver -w || true

log "Windows tests passed"
