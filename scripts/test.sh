#!/usr/bin/env bash
# Runs every test pipeway has, on a fresh Debian machine: installs what the
# tests talk to (socat, Python), then runs the workspace's tests.
#   usage: scripts/test.sh
# Run as root (CI does): some tests act as a second user (fork + setuid).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

log "system packages the tests use"
apt_install socat python3

log "format, lints, docs"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

log "tests"
cargo test --workspace --all-features

log "all tests passed"
