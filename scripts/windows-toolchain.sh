#!/usr/bin/env bash
# Sets up, on Debian 12 (bookworm), what building pipeway for
# x86_64-pc-windows-gnu and running its tests under Wine needs, then writes
# $PIPEWAY_WINDOWS_BASE/env.sh to source before cargo.
#
#   usage: scripts/windows-toolchain.sh          (as root: it installs packages)
#          . "${PIPEWAY_WINDOWS_BASE:-/opt/pipeway-windows}/env.sh"
#          cargo test -Zbuild-std=std,panic_abort --target x86_64-pc-windows-gnu -p pipeway
#
# Idempotent: a second run checks each step and returns in a second or two.
#
# Why this shape:
# - rustup cannot fetch a Windows std here, so the build uses Debian's
#   rustc-web 1.96 together with its std sources (rust-web-src) and
#   -Zbuild-std (RUSTC_BOOTSTRAP=1). The compiler must match the sources
#   exactly, so every Rust package comes from the same Debian version.
# - Those packages conflict with Debian's rustup package and would replace
#   the machine's rustc, so they are downloaded and extracted privately
#   (dpkg -x) under $BASE; ~/.rustup and /usr/bin stay as they were.
# - The linker is mingw-w64's gcc; the runner is Wine 8 (wine64), which
#   Debian installs as /usr/lib/wine/wine64, off PATH.
# - Wine 8.0 has no bcryptprimitives.dll, whose ProcessPrng Rust's std
#   (>= 1.78) imports: every test exe would exit with code 53. A ten-line
#   stand-in built with mingw goes into the Wine prefix.
set -euo pipefail

BASE=${PIPEWAY_WINDOWS_BASE:-/opt/pipeway-windows}
# The Rust version the Windows build uses (Debian bookworm-security).
RUST_SERIES=1.96
PREFERRED_VERSION=1.96.0+dfsg1-1~deb12u2
RUST_PACKAGES=(rustc-web cargo-web libstd-rust-web-dev "libstd-rust-web-$RUST_SERIES" rust-web-src
               rust-web-clippy)
SYSTEM_PACKAGES=(gcc-mingw-w64-x86-64 wine64 libllvm22 libgit2-1.5 libssh2-1 libcurl4)
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver

log() { printf '== windows-toolchain: %s\n' "$*" >&2; }

apt_get() {
  # Other jobs on a shared machine may hold the dpkg lock for a while.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

updated=false
apt_update_once() {
  if ! $updated; then
    apt_get update -qq
    updated=true
  fi
}

# 1. System packages: the linker, Wine, and the libraries rustc-web and
#    cargo-web link against.
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update_once
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Debian's Rust 1.96 with its std sources (and clippy, to lint the Windows
#    code), extracted privately.
mkdir -p "$BASE"
if [ ! -x "$BASE/root/usr/bin/rustc" ] || [ ! -x "$BASE/root/usr/bin/cargo-clippy" ] ||
   [ ! -d "$BASE/root/usr/lib/rustlib/src/rust/library" ]; then
  apt_update_once
  version=$PREFERRED_VERSION
  if ! apt-cache show "rustc-web=$version" >/dev/null 2>&1; then
    # The mirror moved on to a newer upload of the same series: take it,
    # as long as every package comes from that one version.
    version=$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')
    case "$version" in
      "$RUST_SERIES".*) log "rustc-web $PREFERRED_VERSION is gone; using $version" ;;
      *) log "no rustc-web $RUST_SERIES.x in the apt sources (candidate: $version)"; exit 1 ;;
    esac
  fi
  log "downloading rustc-web $version and its std sources"
  rm -rf "$BASE/debs" "$BASE/root.partial"
  mkdir -p "$BASE/debs" "$BASE/root.partial"
  # As root, apt would drop to its sandbox user, which cannot write here.
  (cd "$BASE/debs" && apt-get -o APT::Sandbox::User=root download -qq "${RUST_PACKAGES[@]/%/=$version}")
  for deb in "$BASE"/debs/*.deb; do
    dpkg -x "$deb" "$BASE/root.partial"
  done
  rm -rf "$BASE/root"
  mv "$BASE/root.partial" "$BASE/root"
  rm -rf "$BASE/debs"
fi

# 3. The file to source.
cat >"$BASE/env.sh" <<ENV
# Written by pipeway's scripts/windows-toolchain.sh: the Windows cross build.
export LD_LIBRARY_PATH=$BASE/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PATH=$BASE/root/usr/bin:\$PATH
export CARGO=$BASE/root/usr/bin/cargo
export RUSTC=$BASE/root/usr/bin/rustc
export RUSTDOC=$BASE/root/usr/bin/rustdoc
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$WINE
export WINEPREFIX=$BASE/wineprefix
export WINEDEBUG=-all
ENV
# shellcheck disable=SC1091
. "$BASE/env.sh"

# 4. The Wine prefix, with the bcryptprimitives.dll stand-in.
shim_src=$BASE/shim/bcryptprimitives.c
shim_dll=$BASE/shim/bcryptprimitives.dll
mkdir -p "$BASE/shim"
cat >"$shim_src.new" <<'C'
/* Wine 8.0 lacks bcryptprimitives.dll. Rust's std imports one function from
 * it, ProcessPrng; this fills the buffer with RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has. Written for pipeway's Windows tests. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG part = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, part)) {
            return FALSE;
        }
        data += part;
        length -= part;
    }
    return TRUE;
}
C
if ! cmp -s "$shim_src.new" "$shim_src" || [ ! -f "$shim_dll" ]; then
  mv "$shim_src.new" "$shim_src"
  x86_64-w64-mingw32-gcc -O2 -shared -o "$shim_dll" "$shim_src" -ladvapi32
else
  rm -f "$shim_src.new"
fi
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  log "creating the Wine prefix $WINEPREFIX"
  # wineboot prints harmless noise about syswow64 on a 64-bit-only Wine.
  "$WINE" wineboot --init >/dev/null 2>&1 || true
  "$WINESERVER" -w
fi
if ! cmp -s "$shim_dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"; then
  cp "$shim_dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
fi

log "ready: $("$RUSTC" -V); . $BASE/env.sh"
