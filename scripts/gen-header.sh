#!/usr/bin/env bash
# Regenerates include/hostgate.h (and the Python binding's cffi declarations derived from it)
# with a pinned cbindgen. Point releases of cbindgen change the output, so the version is fixed.
#
#   scripts/gen-header.sh           rewrite the checked-in files
#   scripts/gen-header.sh --check   fail (and show the diff) when they are stale
set -euo pipefail

CBINDGEN_VERSION=0.29.4
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen $CBINDGEN_VERSION" ]; then
    echo "gen-header: installing cbindgen $CBINDGEN_VERSION" >&2
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --force --quiet
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cbindgen --quiet --config crates/hostgate-ffi/cbindgen.toml --crate hostgate-ffi \
    --output "$tmp/hostgate.h" crates/hostgate-ffi
python3 scripts/header-to-cdef.py "$tmp/hostgate.h" > "$tmp/_cdef.h"

pairs=("$tmp/hostgate.h:include/hostgate.h" "$tmp/_cdef.h:bindings/python/hostgate/_cdef.h")
if [ "${1:-}" = "--check" ]; then
    stale=0
    for pair in "${pairs[@]}"; do
        new=${pair%%:*} old=${pair#*:}
        if ! diff -u "$old" "$new" >&2; then
            echo "gen-header: $old is stale; run scripts/gen-header.sh" >&2
            stale=1
        fi
    done
    exit $stale
fi
for pair in "${pairs[@]}"; do
    cp "${pair%%:*}" "${pair#*:}"
done
echo "gen-header: wrote include/hostgate.h and bindings/python/hostgate/_cdef.h" >&2
