#!/usr/bin/env bash
# Runs every test pipeway has, on a fresh Debian machine: installs what the
# tests talk to (socat, Python, Mono, Samba), then runs the workspace's
# tests, then the Windows backend's under Wine (scripts/test-windows.sh).
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

# Python packages, for the Python that the tests run as `python3`. Debian's
# own python3 refuses global installs (PEP 668) unless told otherwise.
pip_install() {
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  log "installing $* with pip"
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

log "system packages the tests use"
apt_install socat python3
# Remote pipes: a real Samba host (smbd, in a network namespace the tests
# make with iproute2) and smbclient; impacket is an independent SMB client.
# samba-testsuite has ndrdump, Samba's own parser, which checks the
# hand-off requests pipeway-smb's tests construct; setpriv (util-linux)
# runs a server as another user.
apt_install samba smbclient iproute2 samba-testsuite util-linux

# A real .NET peer: Mono 6.8 implements System.IO.Pipes with .NET Core's
# Unix code (tests/dotnet.rs builds a C# client and server with mcs).
apt_install mono-mcs mono-runtime libmono-system-core4.0-cil

# pipeway-grpc's interop tests: grpcio as client and server, grpcio-tools to
# generate its stubs from buy.proto. (The Rust side needs no protoc: its
# generated code is committed, and the test that checks it is current uses a
# vendored protoc.) Pinned: these have CPython 3.11 wheels.
GRPCIO_VERSION=1.80.0
python3 -c "import grpc, grpc_tools; assert grpc.__version__ == '$GRPCIO_VERSION'" 2>/dev/null ||
  pip_install "grpcio==$GRPCIO_VERSION" "grpcio-tools==$GRPCIO_VERSION"

IMPACKET_VERSION=0.13.1
python3 -c "import importlib.metadata as m; assert m.version('impacket') == '$IMPACKET_VERSION'" 2>/dev/null ||
  pip_install "impacket==$IMPACKET_VERSION"
# h2 (pure-Python HTTP/2) carries a gRPC call over impacket's pipe, to a
# tonic server served through Samba (pipeway-grpc's tests/smb.rs).
H2_VERSION=4.3.0
python3 -c "import importlib.metadata as m; assert m.version('h2') == '$H2_VERSION'" 2>/dev/null ||
  pip_install "h2==$H2_VERSION"

log "format, lints, docs"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

log "tests"
cargo test --workspace --all-features

log "fuzz targets: a smoke run of each"
scripts/fuzz.sh

# The Windows backend, cross-built and tested under Wine (its own script:
# it sets up its toolchain the first time). PIPEWAY_SKIP_WINDOWS=1 skips it.
if [ -z "${PIPEWAY_SKIP_WINDOWS:-}" ]; then
  log "Windows: x86_64-pc-windows-gnu under Wine"
  scripts/test-windows.sh
fi

log "all tests passed"
