#!/usr/bin/env bash
# End to end: hostgate dns as the DNS firewall of a Linux gateway, in network namespaces this
# script creates (documentation addresses only; nothing leaves the namespaces):
#
#   client (192.0.2.2, 2001:db8:1::2) -- gateway (192.0.2.1 | 198.51.100.1) -- server
#                                        hostgate dns, nftables     (dnsmasq on 198.51.100.2,
#                                        examples/dns/gateway.nft    HTTP on .10 .11 .12, ::11)
#
# The client's only route is through the gateway, whose forward chain drops everything but
# established flows and destinations in the sets hostgate dns fills. The client resolves with
# getent, Python's resolver and curl through a resolv.conf naming the gateway (ip netns exec's /etc/netns/).
#
#  1. before any lookup no server is reachable;
#  2. after an allowed lookup, curl to the name works, and the address is in the set with a
#     timeout no longer than the record's TTL; --dump shows the name it came from;
#  3. a CNAME chain: the target's A and AAAA addresses are learned (the TTL cut to --max-ttl),
#     reachable over IPv4 and IPv6;
#  4. a denied name is not resolved, adds nothing, and its address stays unreachable by IP;
#  5. after the TTL the address leaves the set and is unreachable again;
#  6. a set that does not exist: the client gets SERVFAIL, not the answer.
# Needs root (ip netns). Installs nftables, dnsmasq-base, bind9-dnsutils and curl when missing.
# Leaves nothing behind (trap: processes, namespaces, /etc/netns entries).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-dns-nft

PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v nft >/dev/null || missing+=(nftables)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v curl >/dev/null || missing+=(curl)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    echo "e2e-dns-nft: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
e2e_need nft dnsmasq dig curl ip python3 getent

C=hgc-$$ G=hgg-$$ S=hgs-$$
if ! ip netns add "$C" 2>/dev/null; then
    echo "e2e-dns-nft: SKIPPED: cannot create network namespaces here (ip netns add needs root and CAP_SYS_ADMIN)"
    exit 0
fi
ip netns add "$G"
ip netns add "$S"

cargo build -q -p hostgate-dns
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$(pwd)/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/debug/hostgate-dns"

e2e_before_stop() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    ip netns del "$C" 2>/dev/null || true
    ip netns del "$G" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    rm -rf "/etc/netns/$C"
}
e2e_workdir "hostgate-dns log and stderr, dnsmasq log" 20 dns.log dns.err dnsmasq.log

# Not for servers started with &: $! would be a subshell's, and killing it would leave the
# server running (ip netns exec itself execs the program, so its pid is the server's).
inc() { ip netns exec "$C" "$@"; }
ing() { ip netns exec "$G" "$@"; }
ins() { ip netns exec "$S" "$@"; }

# The wiring. nodad: IPv6 addresses usable at once.
ip link add c0 netns "$C" type veth peer name g0 netns "$G"
ip link add g1 netns "$G" type veth peer name s0 netns "$S"
for ns in "$C" "$G" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set c0 up; ip -n "$G" link set g0 up; ip -n "$G" link set g1 up; ip -n "$S" link set s0 up
ip -n "$C" addr add 192.0.2.2/24 dev c0
ip -n "$C" -6 addr add 2001:db8:1::2/64 dev c0 nodad
ip -n "$G" addr add 192.0.2.1/24 dev g0
ip -n "$G" -6 addr add 2001:db8:1::1/64 dev g0 nodad
ip -n "$G" addr add 198.51.100.1/24 dev g1
ip -n "$G" -6 addr add 2001:db8:2::1/64 dev g1 nodad
for a in 2 10 11 12; do ip -n "$S" addr add "198.51.100.$a/24" dev s0; done
for a in 2 11 12; do ip -n "$S" -6 addr add "2001:db8:2::$a/64" dev s0 nodad; done
ip -n "$C" route add default via 192.0.2.1
ip -n "$C" -6 route add default via 2001:db8:1::1
ip -n "$S" route add default via 198.51.100.1
ip -n "$S" -6 route add default via 2001:db8:2::1
ing sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ing nft -f examples/dns/gateway.nft

# The server namespace: dnsmasq with a small zone (TTL 3 s; edge.cdn.test 30 s), one HTTP server
# on every address.
dnsmasq_args=(-k --conf-file=/dev/null --no-resolv --no-hosts --user=root
    --listen-address=198.51.100.2 --bind-interfaces --local-ttl=3
    --address=/allowed.test/198.51.100.10
    --cname=www.allowed.test,edge.cdn.test
    --host-record=edge.cdn.test,198.51.100.11,2001:db8:2::11,30
    --address=/denied.test/198.51.100.12
    --log-queries --log-facility="$WORK/dnsmasq.log")
ip netns exec "$S" dnsmasq "${dnsmasq_args[@]}" >"$WORK/dnsmasq.out" 2>&1 &
PIDS+=($!)
mkdir -p "$WORK/www"
echo "hello from the server" > "$WORK/www/index.html"
ip netns exec "$S" python3 -m http.server --bind :: --directory "$WORK/www" 8080 >"$WORK/http.log" 2>&1 &
PIDS+=($!)

cat > "$WORK/dns.policy" <<'POLICY'
default deny
allow allowed.test        id allowed-site
allow **.allowed.test     id allowed-subs
deny  denied.test         id denied-site
POLICY
ip netns exec "$G" "$BIN" --listen 192.0.2.1:53 --upstream 198.51.100.2:53 --policy "$WORK/dns.policy" \
    --nft-set inet/hostgate/allow4,allow6 --min-ttl 1 --max-ttl 20 \
    --control "$WORK/ctl.sock" >"$WORK/dns.log" 2>"$WORK/dns.err" &
PIDS+=($!)
# The same gateway with a set that does not exist, for 6.
ip netns exec "$G" "$BIN" --listen 192.0.2.1:5353 --upstream 198.51.100.2:53 --policy "$WORK/dns.policy" \
    --nft-set inet/hostgate/missing >"$WORK/missing.log" 2>"$WORK/missing.err" &
PIDS+=($!)

# The client resolves through the gateway (ip netns exec mounts this over /etc/resolv.conf).
mkdir -p "/etc/netns/$C"
echo "nameserver 192.0.2.1" > "/etc/netns/$C/resolv.conf"

ready() { # ready NS ADDR PORT: until something answers DNS there
    for _ in $(seq 100); do
        ip netns exec "$1" dig +tries=1 +timeout=1 @"$2" -p "$3" ready.invalid >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "e2e-dns-nft: no DNS on $2:$3" >&2; return 1
}
ready "$G" 198.51.100.2 53; ready "$C" 192.0.2.1 53; ready "$C" 192.0.2.1 5353
for _ in $(seq 100); do ins curl -s -o /dev/null http://198.51.100.10:8080/ && break; sleep 0.1; done

get() { # get URL: "hello" when the page came, else "unreachable" (curl -g: [v6] literal)
    if inc curl -sg --connect-timeout 1 --max-time 3 "$@" 2>/dev/null | grep -q "hello from the server"
    then echo hello; else echo unreachable; fi
}
in_set() { # in_set SET ADDR: "T" (the element's timeout, s) or "absent"
    ing nft -j list set inet hostgate "$1" | python3 -c '
import json, sys
want = sys.argv[1]
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        if isinstance(e, dict) and e["elem"]["val"] == want:
            print(e["elem"].get("timeout", "none")); sys.exit()
print("absent")' "$2"
}
status() { inc dig +tries=1 +timeout=3 @192.0.2.1 -p "${2:-53}" "$1" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

echo "e2e-dns-nft: namespaces $C, $G, $S; hostgate dns on 192.0.2.1:53"

# 1. Nothing reachable before a lookup.
expect "before any lookup: 198.51.100.10"      unreachable "$(get http://198.51.100.10:8080/)"
expect "before any lookup: 198.51.100.11"      unreachable "$(get http://198.51.100.11:8080/)"
expect "before any lookup: the set"            absent "$(in_set allow4 198.51.100.10)"

# 2. An allowed name: resolved through hostgate by curl itself, then reachable.
expect "getent through the gateway"            "198.51.100.10" "$(inc getent ahostsv4 allowed.test | awk 'NR==1{print $1}')"
pyresolve() { inc python3 -c 'import socket, sys
try:
    print(socket.getaddrinfo(sys.argv[1], 8080, socket.AF_INET)[0][4][0])
except socket.gaierror as e:
    print("gaierror", e.errno)' "$1"; }
expect "Python's resolver through the gateway"  "198.51.100.10" "$(pyresolve allowed.test)"
expect "curl http://allowed.test:8080/"        hello "$(get http://allowed.test:8080/)"
t=$(in_set allow4 198.51.100.10)
ok=no; [ "$t" != absent ] && [ "$t" -ge 1 ] && [ "$t" -le 3 ] && ok=yes
expect "198.51.100.10 in allow4, timeout ${t} s <= TTL 3 s" yes "$ok"
"$BIN" --dump --control "$WORK/ctl.sock" > "$WORK/dump.txt"
expect_line "--dump: the address and its name" "$WORK/dump.txt" "^address=198.51.100.10 name=allowed.test ttl=[1-3]$"

# 3. A CNAME chain: www.allowed.test -> edge.cdn.test (A and AAAA).
expect "CNAME chain answer"                    "edge.cdn.test. 198.51.100.11" "$(inc dig +short @192.0.2.1 www.allowed.test | tr '\n' ' ' | sed 's/ $//')"
expect "CNAME chain AAAA"                      "edge.cdn.test. 2001:db8:2::11" "$(inc dig +short @192.0.2.1 www.allowed.test AAAA | tr '\n' ' ' | sed 's/ $//')"
expect "CNAME target in allow4, TTL 30 s cut to --max-ttl" 20 "$(in_set allow4 198.51.100.11)"
expect "CNAME target in allow6, TTL 30 s cut to --max-ttl" 20 "$(in_set allow6 2001:db8:2::11)"
expect "curl to the CNAME target over IPv4"    hello "$(get http://198.51.100.11:8080/)"
expect "curl to the CNAME target over IPv6"    hello "$(get 'http://[2001:db8:2::11]:8080/')"
expect "an unlearned IPv6 address"             unreachable "$(get 'http://[2001:db8:2::12]:8080/')"
"$BIN" --dump --control "$WORK/ctl.sock" --format json > "$WORK/dump.json"
expect_line "--dump json: the CNAME target under the asked name" "$WORK/dump.json" '"address":"2001:db8:2::11".*"name":"www.allowed.test"'

# 4. A denied name.
expect "denied name"                           NXDOMAIN "$(status denied.test)"
expect "getent: denied name not resolved"      2 "$(inc getent ahostsv4 denied.test >/dev/null; echo $?)"
expect "Python's resolver: denied name"        "gaierror $(python3 -c 'import socket; print(socket.EAI_NONAME)')" "$(pyresolve denied.test)"
expect "denied address not in the set"         absent "$(in_set allow4 198.51.100.12)"
expect "denied address by IP"                  unreachable "$(get http://198.51.100.12:8080/)"
n=$(grep -c 'query\[.*\] denied.test' "$WORK/dnsmasq.log" || true)
expect "denied queries that reached dnsmasq"   0 "$n"

# 5. Expiry of allowed.test's address (TTL 3 s); nothing re-resolves it.
sleep 3.5
expect "after the TTL: 198.51.100.10 in allow4" absent "$(in_set allow4 198.51.100.10)"
expect "after the TTL: 198.51.100.10"          unreachable "$(get http://198.51.100.10:8080/)"
"$BIN" --dump --control "$WORK/ctl.sock" > "$WORK/dump-late.txt"
expect "after the TTL: --dump"                 no "$(grep -q 198.51.100.10 "$WORK/dump-late.txt" && echo yes || echo no)"
expect_line "after the TTL: the CNAME target still there" "$WORK/dump-late.txt" "^address=198.51.100.11 name=www.allowed.test ttl="
expect "after the TTL: the CNAME target still reachable" hello "$(get http://198.51.100.11:8080/)"

# 6. Fail closed.
expect "a missing set: SERVFAIL"               SERVFAIL "$(status allowed.test 5353)"
expect_line "a missing set: logged"            "$WORK/missing.log" 'name=allowed.test .*rcode=SERVFAIL .*error="nft: '
expect "a missing set: still unreachable"      unreachable "$(get http://198.51.100.10:8080/)"

expect_line "log: answer addresses" "$WORK/dns.log" "name=www.allowed.test type=A verdict=allow .*rcode=NOERROR .*answers=198.51.100.11"

e2e_done
