#!/usr/bin/env bash
# One check through the Lua binding (bindings/lua/bench.lua under LuaJIT) against the same check
# from Rust (benches/examples/check_ns.rs): the same policy, the same queries, ns per call and
# the ratio (target: the binding at most 2x Rust).
#
#   sh benches/lua.sh [RULES [QUERIES [ROUNDS]]]     defaults: 10000 rules, 4096 queries, 15 rounds
#
# The policy has RULES rules (`.svcN.example` suffixes, exact names, ports, ids); the queries are
# half names it allows and half names it denies, in a fixed shuffled order, all `port 443 via
# tls`. Needs luajit (Debian's `luajit2` or `luajit`).
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${1:-10000} queries=${2:-4096} rounds=${3:-15}
command -v luajit >/dev/null || { echo "lua.sh: needs luajit" >&2; exit 1; }

cargo build --release -q -p hostgate-ffi
cargo build --release -q -p hostgate-benches --example check_ns
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk -v n="$rules" 'BEGIN {
    print "default deny"
    for (i = 0; i < n; i++) {
        if (i % 4 == 0)      printf "allow .svc%d.example port 443 id svc%d\n", i, i
        else if (i % 4 == 1) printf "allow api%d.example\n", i
        else if (i % 4 == 2) printf "deny  bad%d.example\n", i
        else                 printf "allow **.zone%d.example port 443 via tls\n", i
    }
}' >"$work/bench.policy"
awk -v n="$rules" -v q="$queries" 'BEGIN {
    srand(7)
    for (k = 0; k < q; k++) {
        i = int(rand() * n); r = i % 4
        if (k % 2 == 1)     name = "miss" i ".nowhere.example"
        else if (r == 0)    name = "www.svc" i ".example"
        else if (r == 1)    name = "api" i ".example"
        else if (r == 2)    name = "bad" i ".example"
        else                name = "a.b.zone" i ".example"
        printf "%s 443 tls\n", name
    }
}' >"$work/bench.queries"

rust=$("$target/release/examples/check_ns" "$work/bench.policy" "$work/bench.queries" "$rounds")
lua=$(HOSTGATE_LIB=$target/release/libhostgate.so luajit bindings/lua/bench.lua \
    "$work/bench.policy" "$work/bench.queries" "$rounds")
echo "$rust"
echo "$lua"
r=$(echo "$rust" | awk '/^check_ns:/ {print $2}')
l=$(echo "$lua" | awk '/^lua_check_ns:/ {print $2}')
ra=$(echo "$rust" | sed -n 's/.* \([0-9]*\) allowed).*/\1/p')
la=$(echo "$lua" | sed -n 's/^lua_check_ns:.* \([0-9]*\) allowed).*/\1/p')
[ "$ra" = "$la" ] || { echo "lua.sh: Rust allowed $ra, Lua $la: not the same verdicts" >&2; exit 1; }
awk -v l="$l" -v r="$r" -v n="$rules" 'BEGIN {
    printf "lua.sh: %d rules: Lua %.1f ns, Rust %.1f ns per check: ratio %.2fx (target <= 2x)\n", n, l, r, l / r
}'
