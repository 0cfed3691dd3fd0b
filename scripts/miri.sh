#!/usr/bin/env bash
# Runs the C ABI crate's tests (crates/hostgate-ffi: the boundary helpers, the header checks and
# the conformance table through the exported functions) under Miri, which checks the crate's
# unsafe code for undefined behaviour: out-of-bounds or dangling pointers, bad alignment,
# aliasing violations, leaks.
#
#   scripts/miri.sh [extra `cargo test` arguments, e.g. a test-name filter]
#
# Needs the nightly toolchain with the miri and rust-src components; tries to add them when
# missing and says plainly when it cannot (then exits 0: nothing was checked).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "miri: SKIPPED: no nightly toolchain"
    exit 0
fi
if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
    echo "miri: component missing; trying rustup +nightly component add miri rust-src"
    if ! rustup +nightly component add miri rust-src; then
        echo "miri: SKIPPED: the miri component could not be installed"
        exit 0
    fi
fi
# The header tests read include/hostgate.h: isolation off for that file access.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
cargo +nightly miri test -p hostgate-ffi --lib "$@"
