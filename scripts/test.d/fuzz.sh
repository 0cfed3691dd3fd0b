#!/usr/bin/env bash
# Fuzz smoke run for CI: builds every target in fuzz/ and runs each for FUZZ_SECONDS (20 s by
# default), one per CPU at a time; fails on any crash, oracle failure, timeout or leak.
# Needs the nightly toolchain (cargo-fuzz uses -Zsanitizer); installs cargo-fuzz when missing.
# On a machine without nightly it says so and skips (there is nothing to fuzz with).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: no nightly toolchain on this machine (rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
start=$(date +%s)
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"
echo "fuzz: smoke run took $(( $(date +%s) - start )) s"
