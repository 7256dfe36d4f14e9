#!/usr/bin/env bash
# Runs pipeway's fuzz targets (fuzz/: cargo-fuzz, libFuzzer, AddressSanitizer):
# every decoder of bytes from a peer has one.
#
#   scripts/fuzz.sh                      smoke run: every target, 20000 executions
#                                        each from its seeds (CI runs this)
#   scripts/fuzz.sh wire_hello pipe_name only these targets
#   FUZZ_RUNS=10000000 FUZZ_KEEP=1 nice scripts/fuzz.sh wire_messages
#                                        a long run: 10 million executions, the
#                                        corpus kept in fuzz/corpus/TARGET so the
#                                        next run starts where this one stopped
#
# FUZZ_RUNS   executions per target (default 20000; -1 runs until stopped)
# FUZZ_KEEP   set: grow fuzz/corpus/TARGET instead of a throwaway corpus
# FUZZ_JOBS   set: that many fuzzing processes per target (libFuzzer -fork)
# FUZZ_SANITIZER  address, none, ... (cargo fuzz --sanitizer). Default: none for
#             a smoke run (at most a million executions: it looks for panics
#             and broken rules, and builds faster), address for
#             longer runs
#
# A crash stops the run: its input is in fuzz/artifacts/TARGET/, and
# `cargo +nightly fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-…`
# replays it. Fix it, add a regression test in the crate that owns the
# decoder, and copy the input into fuzz/seeds/TARGET/ so every later run
# tries it first. Adding a target: README, "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${FUZZ_RUNS:-20000}
if [ -n "${FUZZ_SANITIZER:-}" ]; then
  sanitizer=$FUZZ_SANITIZER
elif [ "$runs" -ge 0 ] && [ "$runs" -le 1000000 ]; then
  sanitizer=none
else
  sanitizer=address
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
cargo +nightly fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for target in "${targets[@]}"; do
  if [ -n "${FUZZ_KEEP:-}" ]; then
    corpus=fuzz/corpus/$target
  else
    corpus=$scratch/$target
  fi
  mkdir -p "$corpus" "fuzz/seeds/$target"
  options=(-runs="$runs" -print_final_stats=1)
  [ -n "${FUZZ_JOBS:-}" ] && options+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
  log=$scratch/$target.log
  if ! cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" "$corpus" "fuzz/seeds/$target" -- \
    "${options[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $target FAILED (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  seconds=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  printf '%-24s %12s executions in %5ss, no crash\n' "$target" "${executions:-?}" "${seconds:-?}"
done
