#!/usr/bin/env bash
# End to end: hostgate-dns in front of a real resolver (Debian dnsmasq serving a local test zone),
# queried with dig over UDP and TCP and with hand-made packets from Python, all on 127.0.0.1.
#
#  1. allowed names resolve to dnsmasq's answers over UDP and TCP, the name's case kept (0x20);
#  2. denied and unlisted names get NXDOMAIN, and never reach dnsmasq (its query log); the
#     same with --deny-response nodata and refused;
#  3. --client picks the policy by the client's source address (dig -b 127.0.0.2);
#  4. a malformed query gets FORMERR, one shorter than a header gets nothing, and the server
#     keeps answering;
#  5. reload, when the policy file changes and on SIGHUP: a good policy is swapped in; a bad one is refused with its FILE:LINE:COL error and
#     the old one stays in force; at start, a bad policy exits 2 with the same error;
#  6. the upstream paused (SIGSTOP) -> SERVFAIL after --timeout-ms; stopped -> SERVFAIL at once;
#  7. one log line per query names the rule, the response code and the answer's addresses.
# Installs dnsmasq-base and bind9-dnsutils when dnsmasq or dig is missing (dnsmasq-base is the
# binary alone: the `dnsmasq` package would also start a system resolver on port 53). Leaves
# nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-dns

if ! command -v dnsmasq >/dev/null || ! command -v dig >/dev/null; then
    echo "e2e-dns: installing dnsmasq-base and bind9-dnsutils"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base bind9-dnsutils >/dev/null
fi
PATH="$PATH:/usr/sbin"
e2e_need dnsmasq dig python3

cargo build -q -p hostgate-dns
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate-dns"

e2e_workdir "hostgate-dns stderr, query log and dnsmasq log tails" 20 queries.err queries.log dnsmasq.log
e2e_ports UP_PORT DNS_PORT NODATA_PORT REFUSED_PORT

POLICY="$WORK/dns.policy"
cat > "$POLICY" <<'EOF'
default deny
allow allowed.test                 id allowed-site
allow **.allowed.test via dns      id allowed-subs
deny  denied.test                  id denied-site

policy strict
default deny
allow strict.allowed.test          id strict-only
EOF

# The real resolver: only the test zone, nothing from /etc, loopback only. denied.test has a
# record too, so an answer for it could only come from dnsmasq.
dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --listen-address=127.0.0.1 --bind-interfaces --port="$UP_PORT" \
    --address=/allowed.test/192.0.2.10 --host-record=www.allowed.test,192.0.2.11 \
    --address=/denied.test/192.0.2.66 \
    --log-queries --log-facility="$WORK/dnsmasq.log" --pid-file="$WORK/dnsmasq.pid" \
    >"$WORK/dnsmasq.out" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")

serve() { # serve PORT LOG [FLAG...]: hostgate-dns in front of dnsmasq
    local port=$1 log=$2
    shift 2
    "$BIN" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$UP_PORT" --policy "$POLICY" \
        --timeout-ms 1000 "$@" >"$WORK/$log.log" 2>"$WORK/$log.err" &
    PIDS+=($!)
}
serve "$DNS_PORT" queries --client 127.0.0.2/32=strict
DNS_PID=${PIDS[-1]}
serve "$NODATA_PORT" nodata --deny-response nodata
serve "$REFUSED_PORT" refused --deny-response refused --format json

wait_port "$UP_PORT"; wait_port "$DNS_PORT"; wait_port "$NODATA_PORT"; wait_port "$REFUSED_PORT"
echo "e2e-dns: dnsmasq on 127.0.0.1:$UP_PORT, hostgate-dns on :$DNS_PORT (nodata :$NODATA_PORT, refused :$REFUSED_PORT)"

DIG=(dig +tries=1 +timeout=5)
short() { # short PORT NAME [DIG ARG...]: the answer's addresses, or "none"
    local port=$1 name=$2 out
    shift 2
    out=$("${DIG[@]}" @127.0.0.1 -p "$port" "$name" +short "$@" | tr '\n' ' ' | sed 's/ $//')
    echo "${out:-none}"
}
status() { # status PORT NAME [DIG ARG...]: the response code dig reports
    local port=$1 name=$2
    shift 2
    "${DIG[@]}" @127.0.0.1 -p "$port" "$name" "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# 1. Allowed.
expect "UDP, allowed name"              192.0.2.10 "$(short "$DNS_PORT" allowed.test)"
expect "TCP, allowed name"              192.0.2.10 "$(short "$DNS_PORT" allowed.test +tcp)"
expect "UDP, allowed host record"       192.0.2.11 "$(short "$DNS_PORT" www.allowed.test)"
expect "TCP, allowed host record"       192.0.2.11 "$(short "$DNS_PORT" www.allowed.test +tcp)"
owner=$("${DIG[@]}" @127.0.0.1 -p "$DNS_PORT" AlLoWeD.TeSt +noall +answer | awk '{print $1}')
expect "0x20 case kept to the answer"   AlLoWeD.TeSt. "$owner"
expect "EDNS with DO and a cookie"      NOERROR "$(status "$DNS_PORT" allowed.test +dnssec +cookie)"

# 2. Denied, never forwarded.
expect "UDP, denied name"               NXDOMAIN "$(status "$DNS_PORT" denied.test)"
expect "TCP, denied name"               NXDOMAIN "$(status "$DNS_PORT" denied.test +tcp)"
expect "UDP, unlisted name (AAAA)"      NXDOMAIN "$(status "$DNS_PORT" other.test AAAA)"
expect "nodata: denied name"            NOERROR "$(status "$NODATA_PORT" denied.test)"
expect "nodata: no answer"              none "$(short "$NODATA_PORT" denied.test)"
expect "refused: denied name over TCP"  REFUSED "$(status "$REFUSED_PORT" denied.test +tcp)"
question=$("${DIG[@]}" @127.0.0.1 -p "$DNS_PORT" DeNiEd.test MX +noall +question | tr -s '\t ' ' ')
expect "denied answer echoes the question" ";DeNiEd.test. IN MX" "$question"
n=$(grep -ci 'query\[.*\] denied.test' "$WORK/dnsmasq.log" || true)
expect "denied queries that reached dnsmasq" 0 "$n"

# 3. Per-client policy.
expect "127.0.0.2 (strict): allowed.test"        NXDOMAIN "$(status "$DNS_PORT" allowed.test -b 127.0.0.2)"
expect "127.0.0.2 (strict): strict.allowed.test" 192.0.2.10 "$(short "$DNS_PORT" strict.allowed.test -b 127.0.0.2)"
expect "127.0.0.1 (default): strict.allowed.test" 192.0.2.10 "$(short "$DNS_PORT" strict.allowed.test)"

# 4. Malformed packets.
cat > "$WORK/raw.py" <<'EOF'
import socket, struct, sys
port, kind = int(sys.argv[1]), sys.argv[2]
if kind == "bad-name":   # a label byte outside [A-Za-z0-9_-]
    msg = struct.pack(">6H", 0xabcd, 0x0100, 1, 0, 0, 0) + b"\x03a*b\x04test\x00\x00\x01\x00\x01"
elif kind == "two-questions":
    q = b"\x07allowed\x04test\x00\x00\x01\x00\x01"
    msg = struct.pack(">6H", 0xabce, 0x0100, 2, 0, 0, 0) + q + q
else:                    # shorter than a header
    msg = b"\xab\xcd\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(msg, ("127.0.0.1", port))
try:
    r = s.recv(4096)
except socket.timeout:
    print("no-answer"); sys.exit()
rcodes = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
print("%s id=%04x" % (rcodes.get(r[3] & 15, r[3] & 15), struct.unpack(">H", r[:2])[0]))
EOF
expect "bad label byte"                 "FORMERR id=abcd" "$(python3 "$WORK/raw.py" "$DNS_PORT" bad-name)"
expect "two questions"                  "FORMERR id=abce" "$(python3 "$WORK/raw.py" "$DNS_PORT" two-questions)"
expect "shorter than a header"          no-answer "$(python3 "$WORK/raw.py" "$DNS_PORT" short)"
expect "still answering after those"    192.0.2.10 "$(short "$DNS_PORT" allowed.test)"

# 5. Reload: a good policy, then a bad one, each seen when the file changes and on SIGHUP.
reloads() { grep -c "$1" "$WORK/queries.err" || true; }
wait_reload() { # wait_reload PATTERN COUNT
    for _ in $(seq 50); do [ "$(reloads "$1")" -ge "$2" ] && return 0; sleep 0.1; done
    echo "e2e-dns: no \"$1\" on stderr" >&2; return 1
}
cp "$POLICY" "$WORK/good.policy"
sed -i 's/^allow \*\*.allowed.test .*/deny www.allowed.test id www-now-denied\n&/' "$POLICY"
wait_reload "policy reloaded (changed)" 1
expect "the file changed: reloaded, no signal" NXDOMAIN "$(status "$DNS_PORT" www.allowed.test)"
kill -HUP "$DNS_PID"
wait_reload "policy reloaded (SIGHUP)" 1
expect "after a good reload: www.allowed.test" NXDOMAIN "$(status "$DNS_PORT" www.allowed.test)"
cp "$WORK/good.policy" "$POLICY"
printf 'allow bad..name\n' >> "$POLICY"
wait_reload "reload refused (changed)" 1
kill -HUP "$DNS_PID"
wait_reload "reload refused (SIGHUP)" 1
expect_line "bad policy refused with FILE:LINE:COL" "$WORK/queries.err" "^$POLICY:9:[0-9]*: "
expect "old policy kept: www.allowed.test"     NXDOMAIN "$(status "$DNS_PORT" www.allowed.test)"
expect "old policy kept: allowed.test"         192.0.2.10 "$(short "$DNS_PORT" allowed.test)"
expect "old policy kept: denied.test"          NXDOMAIN "$(status "$DNS_PORT" denied.test +tcp)"
rc=0
"$BIN" --listen 127.0.0.1:0 --upstream "127.0.0.1:$UP_PORT" --policy "$POLICY" \
    >/dev/null 2>"$WORK/start.err" || rc=$?
expect "a bad policy at start: exit status" 2 "$rc"
expect_line "a bad policy at start: FILE:LINE:COL" "$WORK/start.err" "^$POLICY:9:[0-9]*: "

# 6. The upstream paused, then gone.
elapsed_ms() { # elapsed_ms CMD...: runs CMD, prints "STATUS MS"
    local t0 t1 out
    t0=$(date +%s%N)
    out=$("$@")
    t1=$(date +%s%N)
    echo "$out $(( (t1 - t0) / 1000000 ))"
}
kill -STOP "$UP_PID"
read -r st ms <<<"$(elapsed_ms status "$DNS_PORT" allowed.test)"
expect "upstream paused: UDP"          SERVFAIL "$st"
within=no; [ "$ms" -ge 900 ] && [ "$ms" -le 2500 ] && within=yes
expect "SERVFAIL after the 1000 ms timeout (${ms} ms)" yes "$within"
read -r st ms <<<"$(elapsed_ms status "$DNS_PORT" allowed.test +tcp)"
expect "upstream paused: TCP"          SERVFAIL "$st"
within=no; [ "$ms" -le 2500 ] && within=yes
expect "TCP SERVFAIL within the timeout (${ms} ms)" yes "$within"
kill -CONT "$UP_PID"
expect "upstream resumed"              192.0.2.10 "$(short "$DNS_PORT" allowed.test)"
kill "$UP_PID"
for _ in $(seq 50); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
read -r st ms <<<"$(elapsed_ms status "$DNS_PORT" allowed.test)"
expect "upstream stopped: UDP"         SERVFAIL "$st"
within=no; [ "$ms" -le 1500 ] && within=yes
expect "SERVFAIL within the timeout (${ms} ms)" yes "$within"
expect "upstream stopped: TCP"         SERVFAIL "$(status "$DNS_PORT" allowed.test +tcp)"
expect "denied still answered locally" NXDOMAIN "$(status "$DNS_PORT" denied.test)"

# 7. The query logs.
L="$WORK/queries.log"
expect_line "log: allowed, rule, upstream" "$L" \
    "proto=udp name=allowed.test type=A verdict=allow reason=matched rule=allowed-site rcode=NOERROR upstream=127.0.0.1:$UP_PORT answers=192.0.2.10$"
expect_line "log: denied over TCP" "$L" \
    "proto=tcp name=denied.test type=A verdict=deny reason=matched rule=denied-site rcode=NXDOMAIN"
expect_line "log: unlisted name" "$L" "name=other.test type=AAAA verdict=deny reason=default rule=- rcode=NXDOMAIN"
expect_line "log: per-client policy" "$L" "client=127.0.0.2:.*name=strict.allowed.test .*rule=strict-only"
expect_line "log: malformed" "$L" "verdict=deny reason=invalid-name rule=- rcode=FORMERR error=\"label byte outside"
expect_line "log: dropped" "$L" "verdict=malformed .*rcode=dropped"
expect_line "log: upstream timeout" "$L" "rcode=SERVFAIL .*error=\"127.0.0.1:$UP_PORT: timeout\""
expect_line "JSON log" "$WORK/refused.log" '"name":"denied.test".*"rcode":"REFUSED"'

e2e_done
