#!/usr/bin/env bash
# End to end: real traffic on loopback captured by tcpdump, read by `hostgate inspect --pcap`
# and by Wireshark's tshark, which must agree on every flow's name.
#
#  1. curl over HTTPS (SNI, ALPN h2/http1.1) and plain HTTP (Host) to local servers, openssl
#     s_client with a 253-byte SNI and with none, dig (UDP and TCP) to a closed local port: the
#     clients' first bytes as the kernel put them on the wire;
#  2. the QUIC flights of real clients (crates/hostgate/tests/fixtures/quic: aioquic, qh3,
#     Chromium v1/v2, ngtcp2) sent from their own UDP sockets;
#  3. the capture is read both ways: for every flow, hostgate's name (SNI, Host, question) and
#     ALPN must be tshark's, and each flow's verdict against a policy is checked.
# Installs tcpdump and tshark itself when missing. Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-pcap

if ! command -v tcpdump >/dev/null || ! command -v tshark >/dev/null || ! command -v dig >/dev/null; then
    echo "e2e-pcap: installing tcpdump, tshark and bind9-dnsutils"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump tshark bind9-dnsutils >/dev/null
fi
e2e_need curl openssl python3 tcpdump tshark dig

cargo build -q -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate"

e2e_workdir "tcpdump log" 20 tcpdump.log
e2e_ports HTTP_PORT TLS_PORT DNS_PORT QUIC_PORT
e2e_upstream_files secure.test
e2e_upstreams
# A TCP listener on the DNS port, so that dig +tcp sends its query (over UDP it needs none).
python3 -c "
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(4)
while True:
    c, _ = s.accept(); c.settimeout(2)
    try: c.recv(65536)
    except OSError: pass
    c.close()
" "$DNS_PORT" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$HTTP_PORT"; wait_port "$TLS_PORT"; wait_port "$DNS_PORT"

CAP="$WORK/capture.pcap"
tcpdump -i lo -U -s 0 -w "$CAP" \
    "port $HTTP_PORT or port $TLS_PORT or port $DNS_PORT or port $QUIC_PORT" \
    >"$WORK/tcpdump.log" 2>&1 &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump.log" && break; sleep 0.1; done

LONG=$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63)).$(printf 'd%.0s' $(seq 61))
curl -s -k -o /dev/null --max-time 5 --resolve "secure.test:$TLS_PORT:127.0.0.1" "https://secure.test:$TLS_PORT/" || true
curl -s -o /dev/null --max-time 5 --resolve "web.test:$HTTP_PORT:127.0.0.1" "http://web.test:$HTTP_PORT/" || true
echo | timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername "$LONG" >/dev/null 2>&1 || true
echo | timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -noservername >/dev/null 2>&1 || true
dig @127.0.0.1 -p "$DNS_PORT" +tries=1 +time=1 query.dns.test A >/dev/null 2>&1 || true
dig @127.0.0.1 -p "$DNS_PORT" +tries=1 +time=1 +tcp tcp.dns.test AAAA >/dev/null 2>&1 || true
# Each QUIC flight from a socket of its own, as its client sent it.
python3 - "$QUIC_PORT" crates/hostgate/tests/fixtures/quic <<'EOF'
import glob, os, socket, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
for expect in sorted(glob.glob(os.path.join(d, "*.expect"))):
    name = expect[:-len(".expect")]
    n = int([l.split("=", 1)[1] for l in open(expect) if l.startswith("datagrams=")][0])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k in range(1, n + 1):
        s.sendto(open("%s-%d.bin" % (name, k), "rb").read(), ("127.0.0.1", port))
    s.close()
    time.sleep(0.02)
EOF
sleep 1
kill -INT "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true

# hostgate: per flow "transport client-port name alpn".
cat > "$WORK/policy" <<EOF
default deny
allow secure.test port $TLS_PORT via tls id secure
allow web.test port $HTTP_PORT via http id web
allow query.dns.test via dns id dns
allow **.example.com port $QUIC_PORT via tls id quic
EOF
"$BIN" inspect --pcap "$CAP" --policy "$WORK/policy" --format json >"$WORK/hostgate.json" 2>"$WORK/hostgate.err"
python3 - "$WORK/hostgate.json" >"$WORK/hostgate.flows" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    port = r["client"].rsplit(":", 1)[1]
    print(r["transport"], port, r["name"] or "-", ",".join(r["alpn"]) or "-", r["verdict"], r["rule"] or "-")
EOF

# tshark: the client's first name-bearing packet of each flow, the same fields.
tshark -r "$CAP" -d "udp.port==$QUIC_PORT,quic" -d "udp.port==$DNS_PORT,dns" -d "tcp.port==$DNS_PORT,dns" \
    -Y "(tls.handshake.type == 1) || http.request || (dns.flags.response == 0)" -T fields -E separator='|' \
    -e tcp.srcport -e udp.srcport -e tls.handshake.extensions_server_name -e http.host -e dns.qry.name \
    -e tls.handshake.extensions_alpn_str 2>/dev/null >"$WORK/tshark.raw"
python3 - "$WORK/tshark.raw" >"$WORK/tshark.flows" <<'EOF'
import sys
seen = set()
for line in open(sys.argv[1]):
    tcp, udp, sni, host, qname, alpn = (line.rstrip("\n").split("|") + [""] * 6)[:6]
    transport, port = ("tcp", tcp) if tcp else ("udp", udp)
    if (transport, port) in seen:
        continue  # a retransmitted hello, or a later datagram of the flow
    seen.add((transport, port))
    name = sni or (host.rsplit(":", 1)[0] if host else "") or qname or "-"
    print(transport, port, name.lower(), alpn or "-")
EOF
cut -d' ' -f1-4 "$WORK/hostgate.flows" | sort >"$WORK/hostgate.cmp"
sort "$WORK/tshark.flows" >"$WORK/tshark.cmp"
# QUIC flights: one per fixture; TCP: curl x2, s_client x2, dig +tcp; UDP DNS: 1.
quic=$(ls crates/hostgate/tests/fixtures/quic/*.expect | wc -l)
nosni=$(grep -l '^status=no-name' crates/hostgate/tests/fixtures/quic/*.expect | wc -l)
flows=$(wc -l <"$WORK/hostgate.cmp")
expect "flows hostgate found"              $((quic + 6)) "$flows"
if ! diff -u "$WORK/tshark.cmp" "$WORK/hostgate.cmp" >"$WORK/diff.out"; then
    cat "$WORK/diff.out" >&2
fi
expect "every flow's name and ALPN, tshark vs hostgate" same "$(cmp -s "$WORK/tshark.cmp" "$WORK/hostgate.cmp" && echo same || echo different)"
count() { grep -c -- "$1" "$WORK/hostgate.flows" || true; }
expect "QUIC flights with a name (aioquic, qh3, Chromium, ngtcp2)" $((quic - nosni)) "$(awk '$1 == "udp" && $3 != "-" && $4 ~ /h3/' "$WORK/hostgate.flows" | wc -l)"
expect "QUIC flights without SNI (aioquic, qh3)" "$nosni" "$(awk '$1 == "udp" && $3 == "-" && $4 ~ /h3/' "$WORK/hostgate.flows" | wc -l)"
expect "HTTPS flow allowed by its rule"    1 "$(count ' secure.test h2,http/1.1 allow secure$')"
expect "HTTP flow allowed by its rule"     1 "$(count ' web.test - allow web$')"
expect "DNS question allowed by its rule"  1 "$(count ' query.dns.test - allow dns$')"
expect "253-byte SNI named, denied"        1 "$(count " $LONG - deny -$")"
expect "QUIC flights allowed (*.example.com via tls)" \
    "$(grep -l '^name=.*[.]example[.]com$' crates/hostgate/tests/fixtures/quic/*.expect | wc -l)" \
    "$(grep '^udp' "$WORK/hostgate.flows" | grep -c 'allow quic$' || true)"
e2e_done
