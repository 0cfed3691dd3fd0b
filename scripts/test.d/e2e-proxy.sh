#!/usr/bin/env bash
# End to end: the example egress proxy (examples/egress-proxy) in front of a local HTTP server
# and a local TLS server, driven by curl, openssl s_client and a Python keep-alive client, all on
# 127.0.0.1.
#
#  1. HTTP Host, TLS SNI and CONNECT: allowed names get the upstream's response, denied ones are
#     closed (even though they have an upstream); an allowed CONNECT carrying a denied SNI is
#     closed; one log line per connection names the rule;
#  2. live reload while 4 clients loop on an allowed name: every one of their requests
#     succeeds; a new policy file renamed into place is picked up without a signal and applies
#     to new connections (a name becomes allowed, another denied) while a connection opened
#     before the reload keeps working; then an engine file from `hostgate compile` written over
#     the policy's path is mapped and followed too;
#  3. a policy that does not compile is refused, when the file changes and on SIGHUP, with its
#     FILE:LINE:COL error, and the old policy stays in force; SIGHUP reloads a good one;
#  4. `--from cilium`: a CiliumNetworkPolicy decides with Cilium's meaning (`*.` is one label);
#  5. HTTP/3 (`--quic-listen`): real aioquic and qh3 clients through the proxy to a local aioquic
#     HTTP/3 server get their answer for an allowed SNI and nothing for a denied one.
# aioquic and qh3 come from PyPI, into a virtualenv of the suite's own.
# Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-proxy
e2e_need curl openssl python3

cargo build -q -p egress-proxy -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/egress-proxy"
HOSTGATE="${CARGO_TARGET_DIR:-target}/debug/hostgate"

e2e_before_stop() { touch "$WORK/stop" 2>/dev/null || true; } # ends the load loops
e2e_workdir "proxy stderr and log tail" 20 proxy.err proxy.log
e2e_ports PROXY_PORT HTTP_PORT TLS_PORT

e2e_upstream_files secure.test
POLICY="$WORK/egress.policy"
cat > "$POLICY" <<'EOF'
default deny
allow web.test                     id web
allow keep.test                    id keep
allow secure.test                  id secure
deny  denied.test                  id denied-site
EOF

# Upstreams (HTTP/1.1 keep-alive), plain and TLS.
e2e_upstreams keep-alive

H="127.0.0.1:$HTTP_PORT"
"$BIN" --listen "127.0.0.1:$PROXY_PORT" --policy "$POLICY" --peek-timeout-ms 3000 \
    --upstream "web.test=$H" --upstream "keep.test=$H" --upstream "later.test=$H" \
    --upstream "denied.test=$H" --upstream "secure.test=127.0.0.1:$TLS_PORT" \
    >"$WORK/proxy.log" 2>"$WORK/proxy.err" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")

wait_port "$HTTP_PORT"; wait_port "$TLS_PORT"; wait_port "$PROXY_PORT"

direct() { # direct SCHEME NAME: HTTP status via the proxy as if NAME resolved to it, 000 if closed
    curl -s -k -o /dev/null -w '%{http_code}' --max-time 10 \
        --resolve "$2:$PROXY_PORT:127.0.0.1" "$1://$2:$PROXY_PORT/" || true
}
s_client() { # s_client ARGS...: "through" when the upstream's page came back, else "closed"
    local out
    out=$(printf 'GET / HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n' \
        | timeout 10 openssl s_client -quiet "$@" 2>/dev/null | head -c 2000 || true)
    case "$out" in *"hello from the upstream"*) echo through ;; *) echo closed ;; esac
}
wait_log() { # wait_log FILE PATTERN COUNT: until PATTERN appears COUNT times (5 s at most)
    for _ in $(seq 50); do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

echo "e2e-proxy: proxy on 127.0.0.1:$PROXY_PORT, http upstream :$HTTP_PORT, tls upstream :$TLS_PORT"
expect "HTTP Host allowed"                 200 "$(direct http web.test)"
expect "HTTP Host denied (has an upstream)" 000 "$(direct http denied.test)"
expect "HTTP Host unlisted"                000 "$(direct http later.test)"
expect "TLS SNI allowed (curl)"            200 "$(direct https secure.test)"
expect "TLS SNI denied (curl)"             000 "$(direct https denied.test)"
expect "TLS SNI allowed (s_client)"        through "$(s_client -connect "127.0.0.1:$PROXY_PORT" -servername secure.test)"
expect "TLS without SNI (s_client)"        closed "$(s_client -connect "127.0.0.1:$PROXY_PORT" -noservername)"
code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$PROXY_PORT" https://secure.test/ || true)
expect "CONNECT allowed (curl -x)"         200 "$code"
code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$PROXY_PORT" https://denied.test/ || true)
expect "CONNECT denied (curl -x)"          000 "$code"
expect "CONNECT allowed, SNI denied"       closed "$(s_client -proxy "127.0.0.1:$PROXY_PORT" -connect secure.test:443 -servername denied.test)"
wait_log "$WORK/proxy.log" "verdict=deny" 5 || true
expect_line "log line: allowed HTTP names its rule" "$WORK/proxy.log" "proto=http via=http name=web.test verdict=allow reason=matched rule=web upstream="
expect_line "log line: denied TLS names its rule" "$WORK/proxy.log" "proto=tls via=tls name=denied.test verdict=deny reason=matched rule=denied-site"
expect_line "log line: fronting closed" "$WORK/proxy.log" "proto=http via=connect name=secure.test verdict=allow reason=matched rule=secure closed=fronting inner=denied.test"

# --- Reload under load ---
# A keep-alive connection opened before the reload, to a name the new policy denies.
python3 - "$PROXY_PORT" "$WORK" >"$WORK/keepalive.out" 2>&1 <<'EOF' &
import socket, sys, time, os
port, work = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), 5)
f = s.makefile("rb")
def get():
    s.sendall(b"GET / HTTP/1.1\r\nHost: keep.test\r\n\r\n")
    status = f.readline()
    length = 0
    while True:
        line = f.readline()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        if line in (b"\r\n", b""):
            break
    f.read(length)
    return status.split()[1:2] == [b"200"]
first = get()
open(work + "/keepalive.ready", "w").close()
for _ in range(100):  # wait (10 s at most) for the reload to happen
    if os.path.exists(work + "/keepalive.go"):
        break
    time.sleep(0.1)
print("first=%s second=%s" % (first, get()))
EOF
KEEP_PID=$!
PIDS+=("$KEEP_PID")
for _ in $(seq 50); do [ -f "$WORK/keepalive.ready" ] && break; sleep 0.1; done
[ -f "$WORK/keepalive.ready" ] || { echo "e2e-proxy: keep-alive client never connected" >&2; exit 1; }

# Load: 4 clients, each a bounded loop of requests to web.test until told to stop.
load() {
    local n=0
    while [ ! -f "$WORK/stop" ] && [ "$n" -lt 400 ]; do
        direct http web.test >>"$WORK/load.$1"; echo >>"$WORK/load.$1"
        n=$((n + 1))
    done
}
LOADERS=()
for i in 1 2 3 4; do load "$i" & LOADERS+=($!); PIDS+=($!); done
sleep 1

cat > "$POLICY.new" <<'EOF'
default deny
allow web.test                     id web
allow later.test                   id later
deny  keep.test                    id keep-now-denied
allow secure.test                  id secure
deny  denied.test                  id denied-site
EOF
mv "$POLICY.new" "$POLICY"
wait_log "$WORK/proxy.err" "policy reloaded (changed)" 1 && r=yes || r=no
expect "file renamed into place: new policy swapped, no signal" yes "$r"
expect "after reload: newly allowed name"   200 "$(direct http later.test)"
expect "after reload: newly denied name (new connection)" 000 "$(direct http keep.test)"
touch "$WORK/keepalive.go"
wait "$KEEP_PID" || true
expect "after reload: connection opened before it still served" "first=True second=True" "$(cat "$WORK/keepalive.out")"
sleep 0.5

# An engine file written over the policy's path (atomically, by hostgate compile).
printf 'default deny\nallow web.test id web\nallow secure.test id secure\n' > "$WORK/next.policy"
"$HOSTGATE" compile --policy "$WORK/next.policy" -o "$POLICY" >/dev/null
wait_log "$WORK/proxy.err" "policy reloaded (changed)" 2 && r=yes || r=no
expect "engine file over the path: mapped and swapped" yes "$r"
expect "engine file: later.test now denied"  000 "$(direct http later.test)"
expect "engine file: web.test still allowed" 200 "$(direct http web.test)"
sleep 0.5

printf 'allow web.test\nallow ***.broken.test\n' > "$POLICY.new"
mv "$POLICY.new" "$POLICY"
wait_log "$WORK/proxy.err" "reload refused (changed)" 1 && r=yes || r=no
expect "a bad policy file: refused when it changes" yes "$r"
kill -HUP "$PROXY_PID"
wait_log "$WORK/proxy.err" "reload refused (SIGHUP)" 1 && r=yes || r=no
expect "SIGHUP with a bad policy: refused" yes "$r"
expect_line "refusal shows FILE:LINE:COL" "$WORK/proxy.err" "$POLICY:2:[0-9]*: "
echo "  ..   $(grep -m1 -o "$POLICY:2:.*" "$WORK/proxy.err" | sed "s#$WORK/##")"
expect "old policy kept: allowed stays allowed" 200 "$(direct http web.test)"
expect "old policy kept: denied stays denied"   000 "$(direct http later.test)"
sleep 0.5

# SIGHUP: a good policy again (the watch sees the rename too; the SIGHUP line is asserted).
printf 'default deny\nallow web.test id web\nallow later.test id later\n' > "$POLICY.new"
mv "$POLICY.new" "$POLICY"
kill -HUP "$PROXY_PID"
wait_log "$WORK/proxy.err" "policy reloaded (SIGHUP)" 1 && r=yes || r=no
expect "SIGHUP: good policy reloaded" yes "$r"
expect "after SIGHUP: later.test allowed"   200 "$(direct http later.test)"
sleep 0.5

touch "$WORK/stop"
for pid in "${LOADERS[@]}"; do wait "$pid" || true; done
total=$(cat "$WORK"/load.* | grep -c . || true)
good=$(cat "$WORK"/load.* | grep -c '^200$' || true)
[ "$total" -ge 20 ] || { echo "  FAIL load loop made only $total requests" >&2; exit 1; }
expect "requests during the reloads that succeeded" "$total/$total" "$good/$total"

kill -0 "$PROXY_PID" 2>/dev/null && r=running || r=gone
expect "proxy still running" running "$r"

# --- An imported policy ---
e2e_ports CILIUM_PORT
cat > "$WORK/cnp.yaml" <<'EOF'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {}
  egress:
  - toFQDNs: [{matchPattern: '*.test'}]
    toPorts: [{ports: [{port: '443', protocol: TCP}]}]
EOF
"$BIN" --listen "127.0.0.1:$CILIUM_PORT" --from cilium --policy "$WORK/cnp.yaml" \
    --upstream "web.test=$H" --upstream "a.web.test=$H" \
    >"$WORK/cilium.log" 2>"$WORK/cilium.err" &
PIDS+=($!)
wait_port "$CILIUM_PORT"
cilium_http() { # cilium_http HOST: HTTP status through the --from cilium proxy, 000 if closed
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $1" \
        "http://127.0.0.1:$CILIUM_PORT/" || true
}
# A Host without a port is a query without one: the port-limited allow matches it.
expect "--from cilium: one label below *.test"  200 "$(cilium_http web.test)"
expect "--from cilium: two labels below *.test" 000 "$(cilium_http a.web.test)"
expect "--from cilium: a port outside toPorts"  000 "$(cilium_http web.test:8080)"
wait_log "$WORK/cilium.log" "verdict=" 3 || true
expect_line "--from cilium: the log names the Cilium object" "$WORK/cilium.log" "name=web.test verdict=allow reason=matched rule=CiliumNetworkPolicy/shop/web:0"

# --- HTTP/3 ---
python3 -m venv "$WORK/venv" >/dev/null
"$WORK/venv/bin/pip" install -q aioquic qh3 >/dev/null
H3="$WORK/venv/bin/python scripts/test.d/lib/h3.py"
e2e_ports H3_PORT QUIC_TCP_PORT QUIC_PORT
e2e_cert h3 h3.test
$H3 server "$H3_PORT" "$WORK/h3.crt" "$WORK/h3.key" >"$WORK/h3.log" 2>&1 &
PIDS+=($!)
printf 'default deny\nallow h3.test via tls id h3\n' >"$WORK/h3.policy"
"$BIN" --listen "127.0.0.1:$QUIC_TCP_PORT" --quic-listen "127.0.0.1:$QUIC_PORT" --policy "$WORK/h3.policy" \
    --upstream "h3.test=127.0.0.1:$H3_PORT" --upstream "denied.test=127.0.0.1:$H3_PORT" \
    >"$WORK/quic.log" 2>"$WORK/quic.err" &
PIDS+=($!)
wait_port "$QUIC_TCP_PORT"
for _ in $(seq 50); do grep -q "quic on udp" "$WORK/quic.err" && break; sleep 0.1; done
expect "HTTP/3 straight to the server"        "hello over h3 from h3.test" "$($H3 get "$H3_PORT" h3.test 2>/dev/null)"
expect "HTTP/3 through the proxy, SNI allowed" "hello over h3 from h3.test" "$($H3 get "$QUIC_PORT" h3.test 2>/dev/null)"
expect "HTTP/3 through the proxy, SNI denied (has an upstream)" "failed: TimeoutError" "$($H3 get "$QUIC_PORT" denied.test 3 2>/dev/null)"
# qh3 spreads its hello over two datagrams (a post-quantum key share): held, then relayed.
expect "HTTP/3 (qh3 client) through the proxy, allowed" "hello over h3 from h3.test" "$(H3_LIB=qh3 $H3 get "$QUIC_PORT" h3.test 2>/dev/null)"
expect "HTTP/3 (qh3 client) through the proxy, denied" "failed: TimeoutError" "$(H3_LIB=qh3 $H3 get "$QUIC_PORT" denied.test 3 2>/dev/null)"
expect_line "HTTP/3 log line: allowed" "$WORK/quic.log" "proto=quic via=tls name=h3.test verdict=allow reason=matched rule=h3 upstream=127.0.0.1:$H3_PORT"
expect_line "HTTP/3 log line: denied"  "$WORK/quic.log" "proto=quic via=tls name=denied.test verdict=deny reason=default rule=-"

e2e_done
