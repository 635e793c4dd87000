#!/usr/bin/env bash
# Every benchmark warden ships, in one run, on the release build:
#  - `warden mcp` over stdio beside a native Rust MCP floor and an rmcp
#    floor built into the same benchmark binary (1 KiB fs__read median and
#    p99 of sequential calls, start -> first tools/list, peak RSS);
#  - the in-process cost of one call (fresh instance per call);
#  - edit.write in a 10-file vs a 50 000-file workspace, and search.search
#    vs `rg -j1` over the large one.
# Not part of `cargo test`. Needs ripgrep (`bash .ci/setup` installs it).
#
#   bench/compare.sh [--calls N] [--files N]
set -euo pipefail
cd "$(dirname "$0")/.."

calls=1000
files=50000
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    *) echo "usage: bench/compare.sh [--calls N] [--files N]" >&2; exit 2 ;;
  esac
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(rustc --version)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Other work on the machine skews every figure; the ratios are to floors
# measured in the same run, and the load says how far to trust them.
echo "load before: $(cut -d" " -f1-3 /proc/loadavg)"
# `cargo bench` builds the release profile: the binary measured is the one
# a user installs.
cargo bench --workspace --bench mcp -- --calls "$calls"
cargo bench --workspace --bench calls -- --calls 3000
cargo bench --workspace --bench scale -- --files "$files"
echo "load after:  $(cut -d" " -f1-3 /proc/loadavg)"
