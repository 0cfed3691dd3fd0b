#!/usr/bin/env bash
# Queries per second through hostgate dns against the same resolver asked directly, with dnsperf
# (Debian's), in one run on this machine, on loopback only:
#
#   (a) dnsperf -> dnsmasq                      the upstream alone
#   (b) dnsperf -> hostgate-dns -> dnsmasq       the same queries through the DNS firewall
#
# dnsmasq answers every name from its configuration (no recursion, nothing leaves the machine).
# hostgate-dns runs the release build with a policy of RULES rules (200000 by default: RULES-3
# generated exact names plus the test zone's). The query file mixes allowed names (forwarded)
# and denied ones (answered by hostgate, never forwarded): MIX_DENIED of every 10 are denied.
#
#   benches/dns/run.sh                 # 15 s a side, 200k rules, 2 of 10 queries denied
#   DURATION=5 RULES=10000 MIX_DENIED=0 benches/dns/run.sh
#
# Prints dnsperf's figures for both sides and the ratio (b)/(a) of queries per second, then the
# average latency hostgate adds, under that load and with one query at a time (5 s a side). Not part of the test suite: a benchmark, and a noisy one on a shared
# machine. Installs dnsperf and dnsmasq-base when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-15}
RULES=${RULES:-200000}
MIX_DENIED=${MIX_DENIED:-2}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}

PATH="$PATH:/usr/sbin"
if ! command -v dnsperf >/dev/null || ! command -v dnsmasq >/dev/null; then
    echo "bench-dns: installing dnsperf and dnsmasq-base"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf dnsmasq-base >/dev/null
fi

cargo build -q --release -p hostgate-dns
BIN="${CARGO_TARGET_DIR:-target}/release/hostgate-dns"

WORK=$(mktemp -d /tmp/hostgate-bench-dns.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port)
GATE=$(port)
while [ "$GATE" = "$UP" ]; do GATE=$(port); done

python3 - "$WORK" "$RULES" "$MIX_DENIED" <<'PY'
import sys
work, rules, denied = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f"{work}/bench.policy", "w") as p:
    p.write("default deny\nallow allowed.test\nallow **.allowed.test via dns\ndeny denied.test\n")
    for i in range(max(rules - 3, 0)):
        p.write(f"allow host-{i}.example.test\n")
# 10 queries a round: allowed ones first, then the denied ones.
allowed = ["allowed.test A", "www.allowed.test A", "api.allowed.test AAAA",
           "host-17.example.test A", "host-1234.example.test A", "cdn.allowed.test A",
           "host-99999.example.test A", "mail.allowed.test A", "allowed.test AAAA",
           "host-5.example.test A"]
deny = ["denied.test A", "other.test A", "x.denied.test AAAA", "nothing.example.test A",
        "tracker.test A"]
with open(f"{work}/queries.txt", "w") as q:
    for r in range(1000):
        row = allowed[: 10 - denied] + deny[:denied]
        q.write("\n".join(row[(r + k) % len(row)] for k in range(len(row))) + "\n")
PY

dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --listen-address=127.0.0.1 --bind-interfaces --port="$UP" --cache-size=10000 \
    --address=/allowed.test/192.0.2.10 --address=/example.test/192.0.2.20 \
    --address=/denied.test/192.0.2.66 --address=/other.test/192.0.2.67 \
    --address=/tracker.test/192.0.2.68 >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
MASQ=$!
start=$(date +%s%N)
"$BIN" --listen "127.0.0.1:$GATE" --upstream "127.0.0.1:$UP" --policy "$WORK/bench.policy" \
    >/dev/null 2>"$WORK/gate.err" &
PIDS+=($!)
GATE_PID=$!
for _ in $(seq 600); do
    grep -q listening "$WORK/gate.err" 2>/dev/null && break
    sleep 0.1
done
grep -q listening "$WORK/gate.err" || { cat "$WORK/gate.err"; exit 1; }
echo "bench-dns: $RULES rules compiled and listening in $(( ($(date +%s%N) - start) / 1000000 )) ms"

perf() { # perf PORT LABEL [C Q]: dnsperf's qps, average and minimum latency (µs), lost queries
    dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l "$DURATION" -c "${3:-$CLIENTS}" \
        -q "${4:-$OUTSTANDING}" -t 2 >"$WORK/$2.txt" 2>&1
    local qps lat min lost
    qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$WORK/$2.txt")
    lat=$(sed -n 's/^ *Average Latency (s): *\([0-9.]*\).*/\1/p' "$WORK/$2.txt")
    min=$(sed -n 's/^ *Average Latency (s):.*(min \([0-9.]*\).*/\1/p' "$WORK/$2.txt")
    lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$WORK/$2.txt")
    echo "$qps $(python3 -c "print(round($lat * 1e6, 1), round($min * 1e6, 1))") $lost"
}
cpu() { # cpu PID: its user + system time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
# A warm-up of each side (caches, the first connections), then the measured runs, with the CPU
# time dnsmasq and hostgate spent in each (what the machine's other load does not move).
DURATION=2 perf "$UP" warm-a >/dev/null
DURATION=2 perf "$GATE" warm-b >/dev/null
m0=$(cpu "$MASQ")
read -r qa la _ lossa <<<"$(perf "$UP" direct)"
m1=$(cpu "$MASQ"); g1=$(cpu "$GATE_PID")
read -r qb lb _ lossb <<<"$(perf "$GATE" hostgate)"
m2=$(cpu "$MASQ"); g2=$(cpu "$GATE_PID")
# One query at a time: the latency hostgate adds without queueing.
read -r _ l1a m1a _ <<<"$(DURATION=5 perf "$UP" direct-1 1 1)"
read -r _ l1b m1b _ <<<"$(DURATION=5 perf "$GATE" hostgate-1 1 1)"

echo
echo "bench-dns: $(date -u +%Y-%m-%d), $(nproc) cores, ${DURATION} s a side, $CLIENTS clients x $OUTSTANDING outstanding,"
echo "           $RULES rules, $MIX_DENIED of 10 queries denied"
printf '%-34s %12s %14s %8s\n' side "queries/s" "avg latency" lost
printf '%-34s %12s %11s µs %8s\n' "(a) dnsmasq directly" "$qa" "$la" "$lossa"
printf '%-34s %12s %11s µs %8s\n' "(b) hostgate dns -> dnsmasq" "$qb" "$lb" "$lossb"
printf '%-34s %12s %11s µs %8s\n' "(a) one query at a time" - "$l1a" "min $m1a µs"
printf '%-34s %12s %11s µs %8s\n' "(b) one query at a time" - "$l1b" "min $m1b µs"
python3 - "$qa" "$qb" "$la" "$lb" "$l1a" "$l1b" "$m1a" "$m1b" \
    "$((m1 - m0))" "$((m2 - m1))" "$((g2 - g1))" "$(getconf CLK_TCK)" "$DURATION" <<'PY'
import sys
qa, qb, la, lb, l1a, l1b, m1a, m1b, ma, mb, gb, hz, dur = map(float, sys.argv[1:])
us = lambda ticks, qps: ticks / hz * 1e6 / (qps * dur)
print(f"CPU per query: (a) dnsmasq {us(ma, qa):.1f} µs; (b) dnsmasq {us(mb, qb):.1f} µs, "
      f"hostgate {us(gb, qb):.1f} µs")
print(f"ratio (b)/(a) queries/s: {qb / qa:.2f}x")
print(f"latency added: {lb - la:+.1f} µs average under load; one query at a time "
      f"{l1b - l1a:+.1f} µs average, {m1b - m1a:+.1f} µs minimum")
PY
