#!/usr/bin/env bash
# Memory of eight processes on one policy: eight that map the same engine file against eight
# that each compile the text, summing each process's PSS (proportional set size: a page shared
# by k processes counts 1/k in each) from /proc/PID/smaps_rollup. Linux only.
#
#   benches/engine-file-pss.sh [RULES] [PROCESSES]      defaults: 1M 8
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${1:-1M}
n=${2:-8}
cargo build --release -q -p hostgate-benches --example hold_engine
bin=${CARGO_TARGET_DIR:-target}/release/examples/hold_engine
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

"$bin" gen "$rules" "$dir/p.policy"
"$bin" write "$dir/p.policy" "$dir/p.engine"
echo "policy: $rules rules, $(stat -c %s "$dir/p.policy") bytes of text, engine file $(stat -c %s "$dir/p.engine") bytes"

pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# run MODE FILE: starts n holders one after the other, waits until each is ready, prints the
# PSS of one alone (the first, before the others start) and of all n together, in MB.
run() {
    local mode=$1 file=$2 i one=0 total=0
    pids=()
    for ((i = 0; i < n; i++)); do
        "$bin" "$mode" "$file" > "$dir/out.$i" &
        pids+=($!)
        until grep -q ready "$dir/out.$i" 2>/dev/null; do sleep 0.05; done
        [ "$i" -eq 0 ] && one=$(pss_kb "${pids[0]}")
    done
    for p in "${pids[@]}"; do total=$((total + $(pss_kb "$p"))); done
    for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
    pids=()
    awk -v m="$mode" -v n="$n" -v one="$one" -v t="$total" 'BEGIN {
        printf "%-8s one process %7.1f MB   %d processes %8.1f MB   (%.2fx one)\n",
            m, one / 1024, n, t / 1024, t / one }'
}

run open "$dir/p.engine"
run compile "$dir/p.policy"
