#!/usr/bin/env bash
# Measures how far a raw SOCK_SEQPACKET round trip moves on this machine
# when only the placement of its `syscall` instructions changes: the same C
# program (syscall-placement.c) built with 0..N `nop`s before each system
# call, both processes pinned to one CPU, the median of RUNS runs each.
# Two builds per placement: the system calls inline in the loops, and each
# in a small function the loops call (as a library's are).
#
# Why it exists: the message-mode target reads pipeway against raw seqpacket
# at 10%, and on this machine (AMD Zen 4 under a paravirtualized VM) the raw
# round trip itself moves by about 30% with code placement alone. Run it
# before reading a message-mode ratio on a new machine.
#
# usage: scripts/syscall-placement.sh [RUNS] [PADS...]   (needs cc, x86-64)
set -euo pipefail

runs=${1:-3}
shift || true
pads=("$@")
[ ${#pads[@]} -gt 0 ] || pads=(0 1 2 3 4 5 6 7 8 12 16 24 32 40 48 56)

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-5s %-28s %s\n' nops "inline: median µs (runs)" "in a function: median µs (runs)"
for pad in "${pads[@]}"; do
    nops=""
    for ((i = 0; i < pad; i++)); do nops+='nop\n'; done
    cells=()
    for build in inline called; do
        flags=()
        [ "$build" = called ] && flags=(-DCALLED)
        cc -O2 "${flags[@]}" -DPAD_NOPS="\"$nops\"" "$here/syscall-placement.c" -o "$work/rtt"
        times=()
        for ((r = 0; r < runs; r++)); do
            times+=("$(taskset -c 0 "$work/rtt" 100000)")
        done
        median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
        cells+=("$median (${times[*]})")
    done
    printf '%-5s %-28s %s\n' "$pad" "${cells[0]}" "${cells[1]}"
done
