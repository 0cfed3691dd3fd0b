#!/usr/bin/env bash
# Differential: the real HAProxy against `hostgate check --from haproxy`, on every row of
# crates/hostgate-import/tests/data/haproxy/cases.tsv (the table `cargo test -p
# hostgate-import --test haproxy` also checks, without HAProxy).
#
# Each config of the table is run by haproxy as written (plus a `global` section) on
# loopback: tcp frontends bind 127.0.0.1:18401, http frontends 127.0.0.1:18402; their
# servers are a TLS upstream on :18404 and a plain HTTP upstream on :18403, both answering
# "hello from the upstream". Each row's query is sent to it:
#   via tls:  openssl s_client with the row's name as SNI (sent as written: case, dot);
#             allow = the upstream's page comes back, deny = the connection is closed;
#   via http: a request whose Host header is the name, with `:PORT` when the row's port is
#             not 80 (the convention `hostgate check --via http --port P` follows);
#             allow = the upstream's page, deny = 403 (http-request deny) or 503 (no server).
# Anything else fails the run. Each answer must equal hostgate's verdict and the table's.
# Then each config of tests/data/haproxy/refused/ is refused by hostgate (with the reason
# the file's first line gives) while `haproxy -c` accepts it: those are the configurations
# hostgate cannot reproduce by name, not broken ones.
# Installs Debian's haproxy itself when it is missing (root needed). Leaves nothing running.
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init diff-haproxy

if ! command -v haproxy >/dev/null; then
    echo "diff-haproxy: installing haproxy"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi
e2e_need haproxy openssl python3

cargo build -q -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate"
DATA=crates/hostgate-import/tests/data/haproxy
TABLE="$DATA/cases.tsv"
FE_TCP=18401 FE_HTTP=18402 HTTP_PORT=18403 TLS_PORT=18404

e2e_workdir "haproxy log tail" 30 haproxy.out
e2e_upstream_files upstream.test
e2e_upstreams
wait_port "$HTTP_PORT"
wait_port "$TLS_PORT"

HAPROXY_PID=
with_global() { # with_global CONFIG OUT: OUT is CONFIG after a `global` section (the pidfile)
    {
        printf 'global\n    pidfile %s/haproxy.pid\n\n' "$WORK"
        cat "$1"
    } > "$2"
}

start_haproxy() { # start_haproxy CONFIG
    with_global "$1" "$WORK/haproxy.cfg"
    haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; exit 1; }
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.out" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=("$HAPROXY_PID")
    if grep -q "^ *bind 127.0.0.1:$FE_TCP" "$1"; then wait_port "$FE_TCP"; fi
    if grep -q "^ *bind 127.0.0.1:$FE_HTTP" "$1"; then wait_port "$FE_HTTP"; fi
}

stop_haproxy() {
    [ -n "$HAPROXY_PID" ] || return 0
    kill "$HAPROXY_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$HAPROXY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$HAPROXY_PID" 2>/dev/null || true
    wait "$HAPROXY_PID" 2>/dev/null || true
    HAPROXY_PID=
}

haproxy_verdict() { # haproxy_verdict NAME PORT VIA -> allow | deny | "other: ..."
    if [ "$3" = tls ]; then
        local out
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet \
            -connect "127.0.0.1:$FE_TCP" -servername "$1" 2>/dev/null | head -c 2000 || true)
        case "$out" in *"hello from the upstream"*) echo allow ;; *) echo deny ;; esac
        return
    fi
    python3 - "$1" "$2" "$FE_HTTP" <<'PY'
import socket, sys
name, port, proxy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host = name if port == 80 else f"{name}:{port}"
s = socket.create_connection(("127.0.0.1", proxy), 5)
s.settimeout(10)
s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
if status == "200" and b"hello from the upstream" in data:
    print("allow")
elif status in ("403", "503"):
    print("deny")
else:
    print(f"other: status {status}")
PY
}

echo "diff-haproxy: haproxy $(haproxy -v | head -1 | awk '{print $3}'), table $TABLE"
check_table haproxy haproxy ".cfg"

# Configurations HAProxy runs but hostgate cannot reproduce by name: refused, with a reason.
haproxy_c() { # haproxy_c CONFIG -> accepted | refused: `haproxy -c` with the `global` section
    with_global "$1" "$WORK/refused.cfg"
    if haproxy -c -q -f "$WORK/refused.cfg" >"$WORK/check.log" 2>&1; then echo accepted; else echo refused; fi
}
check_refusals haproxy_c "haproxy -c" accepted haproxy "$DATA"/refused/*.cfg
e2e_done
