#!/usr/bin/env bash
# Queries per second and per-query latency through hostgate dns against the same resolver asked
# directly, with dnsperf (Debian's), in one run on this machine, on loopback only:
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
#   PIN=split benches/dns/run.sh       # dnsperf on CPU 0, dnsmasq and hostgate on CPU 1
#
# Three phases, each run against (a) then (b): full load (dnsperf's queries per second, the
# ratio (b)/(a), the CPU each program spent per query); one query at a time; and a fixed
# offered rate both sides keep up with (LOAD_QPS). The last two record every answer's latency
# (benches/dns/serial.py one at a time, dnsperf -v at the rate) and report their median, p90
# and p99, and the median latency hostgate adds. Not part of the test suite: a benchmark, and a
# noisy one on a shared machine. Installs dnsperf and dnsmasq-base when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-15}
RULES=${RULES:-200000}
MIX_DENIED=${MIX_DENIED:-2}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
# Seconds of each latency phase, and the offered rate of the one under load (empty: half of
# what (b) reached at full load, so that both sides keep up with it).
LAT_DURATION=${LAT_DURATION:-5}
LOAD_QPS=${LOAD_QPS:-}
# CPUs for dnsperf, dnsmasq and hostgate, as taskset lists "PERF:MASQ:GATE" (e.g. "0:1:1");
# "split" is "0:1:1"; empty leaves the placement to the scheduler.
PIN=${PIN:-}
[ "$PIN" = split ] && PIN=0:1:1
IFS=: read -r CPU_PERF CPU_MASQ CPU_GATE <<<"$PIN"
on() { # on CPUS COMMAND...: COMMAND on those CPUs, or anywhere when CPUS is empty
    local cpus=$1
    shift
    if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

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

(on "$CPU_MASQ" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --listen-address=127.0.0.1 --bind-interfaces --port="$UP" --cache-size=10000 \
    --address=/allowed.test/192.0.2.10 --address=/example.test/192.0.2.20 \
    --address=/denied.test/192.0.2.66 --address=/other.test/192.0.2.67 \
    --address=/tracker.test/192.0.2.68) >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
MASQ=$!
start=$(date +%s%N)
(on "$CPU_GATE" "$BIN" --listen "127.0.0.1:$GATE" --upstream "127.0.0.1:$UP" \
    --policy "$WORK/bench.policy") >/dev/null 2>"$WORK/gate.err" &
PIDS+=($!)
GATE_PID=$!
for _ in $(seq 600); do
    grep -q listening "$WORK/gate.err" 2>/dev/null && break
    sleep 0.1
done
grep -q listening "$WORK/gate.err" || { cat "$WORK/gate.err"; exit 1; }
echo "bench-dns: $RULES rules compiled and listening in $(( ($(date +%s%N) - start) / 1000000 )) ms"

dnsperf_() { # dnsperf_ PORT OUT SECONDS C Q [ARGS...]
    local port=$1 out=$2 secs=$3 c=$4 q=$5
    shift 5
    # `times` in the outer subshell: the CPU dnsperf used (its user and system time).
    ( (on "$CPU_PERF" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l "$secs" \
        -c "$c" -q "$q" -t 2 "$@") >"$out" 2>&1
        times >"$out.times")
    # Its second line: the children's "user system", as "0m1.234s 0m0.567s"; in seconds.
    sed -n 2p "$out.times" | awk '{ split($1, u, "m"); split($2, s, "m")
        print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' >"$out.cpu"
}
perf() { # perf PORT LABEL: dnsperf's qps, average latency (µs) and lost queries at full load
    dnsperf_ "$1" "$WORK/$2.txt" "$DURATION" "$CLIENTS" "$OUTSTANDING"
    local qps lat lost
    qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$WORK/$2.txt")
    lat=$(sed -n 's/^ *Average Latency (s): *\([0-9.]*\).*/\1/p' "$WORK/$2.txt")
    lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$WORK/$2.txt")
    echo "$qps $(python3 -c "print(round($lat * 1e6, 1))") $lost $(cat "$WORK/$2.txt.cpu")"
}
lat() { # lat PORT LABEL C Q [ARGS...]: median, p90, p99 (µs), answers and lost queries
    local port=$1 label=$2 c=$3 q=$4
    shift 4
    # -v prints a line per answer, "> RCODE NAME TYPE SECONDS" (a lost query: "> T ...").
    dnsperf_ "$port" "$WORK/$label.txt" "$LAT_DURATION" "$c" "$q" -v "$@"
    python3 - "$WORK/$label.txt" <<'PY'
import sys
lat, lost = [], 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 2 and f[0] == ">":
        if f[1] == "T":
            lost += 1
        elif len(f) == 5:
            lat.append(float(f[4]) * 1e6)
lat.sort()
# Nearest rank: the smallest latency with at least that share of the answers at or below it.
rank = lambda p: lat[max(0, -(-len(lat) * p // 100) - 1)] if lat else float("nan")
print(f"{rank(50):.0f} {rank(90):.0f} {rank(99):.0f} {len(lat)} {lost}")
PY
}
cpu() { # cpu PID: its user + system time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
# A warm-up of each side (caches, the first connections), then the measured runs, with the CPU
# time dnsmasq and hostgate spent in each (what the machine's other load does not move).
dnsperf_ "$UP" "$WORK/warm-a.txt" 2 "$CLIENTS" "$OUTSTANDING"
dnsperf_ "$GATE" "$WORK/warm-b.txt" 2 "$CLIENTS" "$OUTSTANDING"
m0=$(cpu "$MASQ")
read -r qa la lossa pa <<<"$(perf "$UP" direct)"
m1=$(cpu "$MASQ"); g1=$(cpu "$GATE_PID")
read -r qb lb lossb pb <<<"$(perf "$GATE" hostgate)"
m2=$(cpu "$MASQ"); g2=$(cpu "$GATE_PID")
# One query at a time (serial.py: dnsperf with -q 1 idles milliseconds between queries): the
# latency hostgate adds without queueing. Then both sides at the same offered rate, below what
# either reaches, with dnsperf: the latency a loaded but not saturated server adds.
serial() { # serial PORT LABEL: as lat, one query at a time, each sent when the last is answered
    (on "$CPU_PERF" python3 benches/dns/serial.py 127.0.0.1 "$1" "$WORK/queries.txt" \
        "$LAT_DURATION" "$WORK/$2.txt")
}
read -r p50a1 p90a1 p99a1 na1 lla1 <<<"$(serial "$UP" direct-1)"
read -r p50b1 p90b1 p99b1 nb1 llb1 <<<"$(serial "$GATE" hostgate-1)"
LOAD_QPS=${LOAD_QPS:-$(python3 -c "print(max(1000, int($qb / 2 // 1000 * 1000)))")}
read -r p50aq p90aq p99aq naq llaq <<<"$(lat "$UP" direct-q "$CLIENTS" "$OUTSTANDING" -Q "$LOAD_QPS")"
read -r p50bq p90bq p99bq nbq llbq <<<"$(lat "$GATE" hostgate-q "$CLIENTS" "$OUTSTANDING" -Q "$LOAD_QPS")"

echo
echo "bench-dns: $(date -u +%Y-%m-%d), $(nproc) cores, $RULES rules, $MIX_DENIED of 10 queries denied," \
    "CPUs ${PIN:-not pinned}${PIN:+ (dnsperf:dnsmasq:hostgate)}"
echo
echo "full load: ${DURATION} s a side, $CLIENTS clients x $OUTSTANDING outstanding"
printf '  %-30s %12s %14s %8s\n' side "queries/s" "avg latency" lost
printf '  %-30s %12.0f %11s µs %8s\n' "(a) dnsmasq directly" "$qa" "$la" "$lossa"
printf '  %-30s %12.0f %11s µs %8s\n' "(b) hostgate dns -> dnsmasq" "$qb" "$lb" "$lossb"
python3 - "$qa" "$qb" "$((m1 - m0))" "$((m2 - m1))" "$((g2 - g1))" "$(getconf CLK_TCK)" "$DURATION" \
    "$pa" "$pb" <<'PY'
import sys
qa, qb, ma, mb, gb, hz, dur, pa, pb = map(float, sys.argv[1:])
us = lambda ticks, qps: ticks / hz * 1e6 / (qps * dur)
print(f"  ratio (b)/(a) queries/s: {qb / qa:.2f}x (target: at least 0.8x)")
# dnsperf's CPU (seconds, from `times`) over the queries it completed in its run.
pa, pb = pa * 1e6 / (qa * dur), pb * 1e6 / (qb * dur)
print(f"  CPU per query: (a) dnsperf {pa:.1f} µs, dnsmasq {us(ma, qa):.1f} µs; "
      f"(b) dnsperf {pb:.1f} µs, dnsmasq {us(mb, qb):.1f} µs, hostgate {us(gb, qb):.1f} µs")
PY
echo
echo "latency of each answer, ${LAT_DURATION} s a side (serial.py; at a rate, dnsperf -v)"
printf '  %-30s %8s %8s %8s %9s %6s\n' side median p90 p99 answers lost
printf '  %-30s %5s µs %5s µs %5s µs %9s %6s\n' \
    "(a) one query at a time" "$p50a1" "$p90a1" "$p99a1" "$na1" "$lla1" \
    "(b) one query at a time" "$p50b1" "$p90b1" "$p99b1" "$nb1" "$llb1" \
    "(a) at $LOAD_QPS queries/s" "$p50aq" "$p90aq" "$p99aq" "$naq" "$llaq" \
    "(b) at $LOAD_QPS queries/s" "$p50bq" "$p90bq" "$p99bq" "$nbq" "$llbq"
echo "  median added latency: $((p50b1 - p50a1)) µs one query at a time, $((p50bq - p50aq)) µs at" \
    "$LOAD_QPS queries/s (target: at most 50 µs)"
