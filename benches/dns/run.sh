#!/usr/bin/env bash
# Queries per second and per-query latency through hostgate dns against the same resolver asked
# directly, with dnsperf (Debian's), in one run on this machine, on loopback only:
#
#   (a) dnsperf -> dnsmasq                      the upstream alone
#   (b) dnsperf -> hostgate-dns -> dnsmasq       the same queries through the DNS firewall
#   (c) dnsperf -> dnsdist -> dnsmasq            through the DNS proxy people deploy (no rules)
#   (d) dnsperf -> relay -> dnsmasq              through a relay that only relays (the floor:
#                                                benches/examples/dns_relay.rs)
#
# dnsmasq answers every name from its configuration (no recursion, nothing leaves the machine).
# hostgate-dns runs the release build with a policy of RULES rules (200000 by default: RULES-3
# generated exact names plus the test zone's). The query file mixes allowed names (forwarded)
# and denied ones (answered by hostgate, never forwarded): MIX_DENIED of every 10 are denied.
# (c) and (d) forward every query.
#
#   benches/dns/run.sh                 # 15 s a side, 200k rules, 2 of 10 queries denied
#   DURATION=5 RULES=10000 MIX_DENIED=0 benches/dns/run.sh
#   PIN=split benches/dns/run.sh       # dnsperf on CPU 0, the servers on CPU 1
#
# Three phases, each run against every side in turn: full load (dnsperf's queries per second,
# the ratios to (a) and to the floor, the CPU each program spent per query); one query at a
# time; and a fixed offered rate all sides keep up with (LOAD_QPS). The last two record every
# answer's latency (benches/dns/serial.py one at a time, dnsperf -v at the rate) and report
# their median, p90 and p99, and the median latency each relay adds to (a). Not part of the
# test suite: a benchmark, and a noisy one on a shared machine. Installs dnsperf, dnsmasq-base
# and dnsdist when missing.
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
# CPUs for dnsperf, dnsmasq and the relay in front of it (hostgate, dnsdist or the floor), as
# taskset lists "PERF:MASQ:GATE" (e.g. "0:1:1"); "split" is "0:1:1"; empty leaves the
# placement to the scheduler.
PIN=${PIN:-}
[ "$PIN" = split ] && PIN=0:1:1
IFS=: read -r CPU_PERF CPU_MASQ CPU_GATE <<<"$PIN"
on() { # on CPUS COMMAND...: COMMAND on those CPUs, or anywhere when CPUS is empty
    local cpus=$1
    shift
    if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

PATH="$PATH:/usr/sbin"
if ! command -v dnsperf >/dev/null || ! command -v dnsmasq >/dev/null || ! command -v dnsdist >/dev/null; then
    echo "bench-dns: installing dnsperf, dnsmasq-base and dnsdist"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf dnsmasq-base dnsdist >/dev/null
fi

cargo build -q --release -p hostgate-dns
cargo build -q --release -p hostgate-benches --example dns_relay
BIN="${CARGO_TARGET_DIR:-target}/release/hostgate-dns"
RELAY="${CARGO_TARGET_DIR:-target}/release/examples/dns_relay"

WORK=$(mktemp -d /tmp/hostgate-bench-dns.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Four distinct ports: dnsmasq's, hostgate's, dnsdist's and the floor relay's.
ports=()
while [ "${#ports[@]}" -lt 4 ]; do
    p=$(port)
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
UP=${ports[0]} GATE=${ports[1]} DIST=${ports[2]} FLOOR=${ports[3]}

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

# dnsdist as a plain proxy: one backend, no packet cache, no rules, datagrams in batches as
# hostgate's; no security poll (it would look a name up outside) and no health checks beyond
# one name of the test zone.
cat >"$WORK/dnsdist.conf" <<EOF
setLocal("127.0.0.1:$DIST")
setSecurityPollSuffix("")
setUDPMultipleMessagesVectorSize(32)
newServer({address="127.0.0.1:$UP", checkName="allowed.test.", checkInterval=60})
EOF
(on "$CPU_GATE" dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf") \
    >"$WORK/dnsdist.log" 2>&1 &
PIDS+=($!)
DIST_PID=$!
(on "$CPU_GATE" "$RELAY" "127.0.0.1:$FLOOR" "127.0.0.1:$UP") >/dev/null 2>"$WORK/relay.err" &
PIDS+=($!)
FLOOR_PID=$!
answers() { dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 allowed.test A 2>/dev/null | grep -q 192.0.2.10; }
for _ in $(seq 100); do
    answers "$DIST" && answers "$FLOOR" && break
    sleep 0.1
done
answers "$DIST" || { echo "bench-dns: dnsdist did not answer"; cat "$WORK/dnsdist.log"; exit 1; }
answers "$FLOOR" || { echo "bench-dns: the floor relay did not answer"; cat "$WORK/relay.err"; exit 1; }

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
# The sides: their ports, their relays' PIDs (none for (a)) and names.
SIDES=(a b c d)
declare -A PORT=([a]=$UP [b]=$GATE [c]=$DIST [d]=$FLOOR)
declare -A RELAY_PID=([a]="" [b]=$GATE_PID [c]=$DIST_PID [d]=$FLOOR_PID)
declare -A NAME=([a]="dnsmasq directly" [b]="hostgate dns -> dnsmasq" [c]="dnsdist -> dnsmasq"
    [d]="floor relay -> dnsmasq")
declare -A QPS LAT LOST PCPU MCPU GCPU P50_1 P90_1 P99_1 N_1 L_1 P50_Q P90_Q P99_Q N_Q L_Q

# A warm-up of each side (caches, the first connections), then the measured runs, with the CPU
# time dnsmasq and the relay spent in each (what the machine's other load does not move).
for side in "${SIDES[@]}"; do
    dnsperf_ "${PORT[$side]}" "$WORK/warm-$side.txt" 2 "$CLIENTS" "$OUTSTANDING"
done
for side in "${SIDES[@]}"; do
    m0=$(cpu "$MASQ") g0=0
    [ -n "${RELAY_PID[$side]}" ] && g0=$(cpu "${RELAY_PID[$side]}")
    read -r "QPS[$side]" "LAT[$side]" "LOST[$side]" "PCPU[$side]" <<<"$(perf "${PORT[$side]}" "full-$side")"
    MCPU[$side]=$(($(cpu "$MASQ") - m0)) GCPU[$side]=0
    [ -n "${RELAY_PID[$side]}" ] && GCPU[$side]=$(($(cpu "${RELAY_PID[$side]}") - g0))
done
# One query at a time (serial.py: dnsperf with -q 1 idles milliseconds between queries): the
# latency a relay adds without queueing. Then every side at the same offered rate, below what
# any reaches, with dnsperf: the latency a loaded but not saturated server adds.
serial() { # serial PORT LABEL: as lat, one query at a time, each sent when the last is answered
    (on "$CPU_PERF" python3 benches/dns/serial.py 127.0.0.1 "$1" "$WORK/queries.txt" \
        "$LAT_DURATION" "$WORK/$2.txt")
}
LOAD_QPS=${LOAD_QPS:-$(python3 -c "print(max(1000, int(${QPS[b]} / 2 // 1000 * 1000)))")}
for side in "${SIDES[@]}"; do
    read -r "P50_1[$side]" "P90_1[$side]" "P99_1[$side]" "N_1[$side]" "L_1[$side]" \
        <<<"$(serial "${PORT[$side]}" "serial-$side")"
done
for side in "${SIDES[@]}"; do
    read -r "P50_Q[$side]" "P90_Q[$side]" "P99_Q[$side]" "N_Q[$side]" "L_Q[$side]" \
        <<<"$(lat "${PORT[$side]}" "rate-$side" "$CLIENTS" "$OUTSTANDING" -Q "$LOAD_QPS")"
done

echo
echo "bench-dns: $(date -u +%Y-%m-%d), $(nproc) cores, $RULES rules, $MIX_DENIED of 10 queries denied" \
    "by hostgate (dnsdist and the floor forward all), CPUs ${PIN:-not pinned}${PIN:+ (dnsperf:dnsmasq:relay)}"
echo
echo "full load: ${DURATION} s a side, $CLIENTS clients x $OUTSTANDING outstanding; CPU per query"
printf '  %-30s %10s %12s %7s %9s %9s %9s\n' side "queries/s" "avg latency" lost dnsperf dnsmasq relay
for side in "${SIDES[@]}"; do
    python3 - "($side) ${NAME[$side]}" "${QPS[$side]}" "${LAT[$side]}" "${LOST[$side]}" \
        "${PCPU[$side]}" "${MCPU[$side]}" "${GCPU[$side]}" "$(getconf CLK_TCK)" "$DURATION" <<'PY'
import sys
name, qps, lat, lost, pcpu, mt, gt, hz, dur = sys.argv[1], *map(float, sys.argv[2:])
q = qps * dur
relay = "—" if name.startswith("(a)") else f"{gt / hz * 1e6 / q:.1f} µs"
print(f"  {name:<30} {qps:10.0f} {lat:9.1f} µs {lost:7.0f} {pcpu * 1e6 / q:6.1f} µs "
      f"{mt / hz * 1e6 / q:6.1f} µs {relay:>9}")
PY
done
python3 - "${QPS[a]}" "${QPS[b]}" "${QPS[c]}" "${QPS[d]}" <<'PY'
import sys
a, b, c, d = map(float, sys.argv[1:])
print(f"  ratio (b)/(a) queries/s: {b / a:.2f}x (target: at least 0.8x); "
      f"(c)/(a) {c / a:.2f}x, (d)/(a) {d / a:.2f}x")
print(f"  hostgate against the floor relay, (b)/(d): {b / d:.2f}x; against dnsdist, (b)/(c): {b / c:.2f}x")
PY
echo
echo "latency of each answer, ${LAT_DURATION} s a side (serial.py; at a rate, dnsperf -v)"
printf '  %-46s %8s %8s %8s %8s %5s %8s\n' side median p90 p99 answers lost added
for phase in 1 Q; do
    for side in "${SIDES[@]}"; do
        if [ "$phase" = 1 ]; then
            what="one at a time" base=${P50_1[a]}
            row=("${P50_1[$side]}" "${P90_1[$side]}" "${P99_1[$side]}" "${N_1[$side]}" "${L_1[$side]}")
        else
            what="at $LOAD_QPS/s" base=${P50_Q[a]}
            row=("${P50_Q[$side]}" "${P90_Q[$side]}" "${P99_Q[$side]}" "${N_Q[$side]}" "${L_Q[$side]}")
        fi
        added="—"
        [ "$side" != a ] && added="+$((row[0] - base)) µs"
        printf '  %-46s %5s µs %5s µs %5s µs %8s %5s %8s\n' "($side) ${NAME[$side]}, $what" \
            "${row[@]}" "$added"
    done
done
echo "  median added latency (b) - (a): $((P50_1[b] - P50_1[a])) µs one query at a time," \
    "$((P50_Q[b] - P50_Q[a])) µs at $LOAD_QPS queries/s (target: at most 50 µs)"
