#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run`) from a clean clone: formatting, lints, every
# crate's tests (unit, integration, doctests including the README), then any extra suites that
# other parts of the project drop into scripts/test.d/ (FFI, bindings, fuzz smoke runs, …).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace

shopt -s nullglob
for suite in scripts/test.d/*.sh; do
    echo "== $suite"
    bash "$suite"
done
