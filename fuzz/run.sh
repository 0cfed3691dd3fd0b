#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS, FUZZ_JOBS of them at a time (by default
# one per CPU, each libFuzzer process on one core), on corpora seeded from the committed
# fixtures.
#
#   fuzz/run.sh SECONDS [TARGET...]
#   FUZZ_JOBS=1 fuzz/run.sh 60 quic
#
# Fails (non-zero) when any target crashes, trips an oracle, times out on an input, leaks or
# runs out of memory; the input is then in fuzz/artifacts/<target>/. Prints, per target, the
# executions and coverage from libFuzzer's final lines. Logs: fuzz/target/logs/<target>.log.
# Needs nightly and cargo-fuzz (scripts/test.d/fuzz.sh installs it).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
all=(tls_client_hello http_request_head dns_question inspect tls_vs_tls_parser policy_compile
    matcher_vs_reference ffi import_yaml import_squid import_nginx import_haproxy import_swp import_terraform quic dns_server engine_file)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

# Targets whose inputs come from crates not committed yet are skipped, not failed.
available=$(cargo +nightly fuzz list)
bash ./seed-corpora.sh
mkdir -p target/logs
cat dict/tls.dict dict/http.dict dict/dns.dict > target/inspect.dict

echo "== building fuzz targets (release, debug assertions, AddressSanitizer)"
start=$(date +%s)
cargo +nightly fuzz build --debug-assertions
echo "   built in $(( $(date +%s) - start )) s"

jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1

run_one() { # run_one TARGET: fuzzes it; its summary line to target/logs/TARGET.result
    local t=$1 opts log rc=0 final execs speed cov ft result
    # -max_len: parsers get room for multi-record hellos and long heads; the policy compiler
    # gets huge inputs. -timeout bounds the time for any one input (hostile regexes).
    case "$t" in
        tls_client_hello|tls_vs_tls_parser) opts=(-max_len=20000 -dict=dict/tls.dict) ;;
        http_request_head) opts=(-max_len=20000 -dict=dict/http.dict) ;;
        dns_question) opts=(-max_len=1024 -dict=dict/dns.dict) ;;
        dns_server) opts=(-max_len=2048 -dict=dict/dns.dict) ;;
        inspect) opts=(-max_len=20000 -dict=target/inspect.dict) ;;
        policy_compile) opts=(-max_len=65536 -dict=dict/policy.dict) ;;
        import_yaml) opts=(-max_len=16384) ;;
        import_squid) opts=(-max_len=8192 -dict=dict/squid.dict) ;;
        import_nginx) opts=(-max_len=8192) ;;
        import_haproxy) opts=(-max_len=8192) ;;
        import_swp) opts=(-max_len=8192) ;;
        import_terraform) opts=(-max_len=8192) ;;
        quic) opts=(-max_len=8192) ;;
        # Edits to a valid file of about 3 KB, or a whole file.
        engine_file) opts=(-max_len=8192 -len_control=0) ;;
        # Structured targets: libFuzzer's slow growth of the input length (-len_control) would
        # keep them on a few dozen bytes, i.e. tiny policies, for minutes; start at full size.
        matcher_vs_reference) opts=(-max_len=4096 -len_control=0) ;;
        ffi) opts=(-max_len=8192 -len_control=0 -dict=dict/policy.dict) ;;
        *) opts=() ;;
    esac
    mkdir -p "corpus/$t" "artifacts/$t"
    log=target/logs/$t.log
    cargo +nightly fuzz run --debug-assertions "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "${opts[@]}" > "$log" 2>&1 || rc=$?
    final=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
    if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc, see $log)"; fi
    {
        printf '%-22s %12s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
        if [ "$rc" -ne 0 ]; then
            grep -E 'panicked at|SUMMARY|ERROR: libFuzzer|Test unit written|assertion' "$log" | head -n 12 | sed 's/^/    /'
        fi
    } > "target/logs/$t.result"
    return "$rc"
}

# At most $jobs at a time; the results are printed in the targets' order once all have run.
ran=()
for t in "${targets[@]}"; do
    if ! grep -qx "$t" <<<"$available"; then
        printf '%-22s %s\n' "$t" "skipped (no such target in this checkout)" > "target/logs/$t.result"
        ran+=("$t")
        continue
    fi
    rm -f "target/logs/$t.result"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$t" &
    ran+=("$t")
done
wait || true

failed=()
printf '%-22s %12s %8s %8s %8s %s\n' target executions exec/s cov ft result
for t in "${ran[@]}"; do
    if [ -f "target/logs/$t.result" ]; then cat "target/logs/$t.result"; else
        printf '%-22s %s\n' "$t" "FAILED (no result, see target/logs/$t.log)"; failed+=("$t"); continue; fi
    head -n 1 "target/logs/$t.result" | grep -q FAILED && failed+=("$t")
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all fuzz targets ran clean"
