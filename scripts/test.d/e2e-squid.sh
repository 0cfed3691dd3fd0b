#!/usr/bin/env bash
# End to end: real Squid 5 (Debian squid-openssl) with `hostgate squid-helper` as its external
# ACL helper, driven by curl and openssl s_client, all on 127.0.0.1.
#
#  1. plain HTTP through the proxy to a local HTTP server: allowed name -> 200, denied -> 403;
#  2. CONNECT to a local TLS server (self-signed, curl -k): allowed -> 200, denied -> 403;
#  3. an allowed CONNECT carrying a ClientHello whose SNI is denied: Squid peeks the SNI, asks the
#     helper, and terminates the tunnel (no response);
#  4. the helper is killed mid-run: Squid starts a new one, denied stays denied throughout, and
#     allowed works again;
#  5. the access log names the rule.
# Installs squid-openssl itself when `squid` is missing. Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-squid

if ! command -v squid >/dev/null || ! squid -v | grep -q -- --with-openssl; then
    echo "e2e-squid: installing squid-openssl"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq squid-openssl >/dev/null
fi
e2e_need curl openssl python3

cargo build -q -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate"

e2e_workdir "cache.log tail" 30 cache.log
e2e_ports SQUID_PORT HTTP_PORT TLS_PORT

# Squid drops to the `proxy` user: everything it reads or writes lives in $WORK.
mkdir -p "$WORK/cache"
e2e_upstream_files allowed.test
cp "$BIN" "$WORK/hostgate"
cat > "$WORK/egress.policy" <<'EOF'
default deny
allow allowed.test                 id allowed-site
deny  denied.test                  id denied-site
EOF
printf '127.0.0.1 allowed.test denied.test\n' > "$WORK/hosts"
e2e_cert bump hostgate-bump
cat "$WORK/bump.crt" "$WORK/bump.key" > "$WORK/bump.pem"

# The example config, with this run's paths and ports, plus test-only settings.
sed -e "s#127.0.0.1:3128#127.0.0.1:$SQUID_PORT#" \
    -e "s#/etc/squid/hostgate-bump.pem#$WORK/bump.pem#" \
    -e "s#/usr/local/bin/hostgate#$WORK/hostgate#g" \
    -e "s#/etc/hostgate/egress.policy#$WORK/egress.policy#g" \
    -e "s#/var/log/squid/hostgate-access.log#$WORK/access.log#" \
    examples/squid/squid.conf > "$WORK/squid.conf"
cat >> "$WORK/squid.conf" <<EOF
pid_filename $WORK/squid.pid
cache_log $WORK/cache.log
coredump_dir $WORK/cache
hosts_file $WORK/hosts
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 1 seconds
cache_effective_user proxy
EOF
chmod 755 "$WORK"
chown -R proxy:proxy "$WORK"

squid -k parse -f "$WORK/squid.conf" >"$WORK/parse.log" 2>&1 || { cat "$WORK/parse.log" >&2; exit 1; }

# Upstreams: an HTTP server and a TLS (HTTPS) server, loopback only.
e2e_upstreams

squid -N -f "$WORK/squid.conf" >"$WORK/squid.out" 2>&1 &
SQUID_PID=$!
PIDS+=("$SQUID_PID")

wait_port "$HTTP_PORT"; wait_port "$TLS_PORT"; wait_port "$SQUID_PORT"

PROXY="http://127.0.0.1:$SQUID_PORT"
status() { # status URL -> HTTP status through the proxy (000 when there is none)
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -k -x "$PROXY" "$1" || true
}

echo "e2e-squid: squid on 127.0.0.1:$SQUID_PORT, http upstream :$HTTP_PORT, tls upstream :$TLS_PORT"
expect "plain HTTP, allowed name"   200 "$(status "http://allowed.test:$HTTP_PORT/")"
expect "plain HTTP, denied name"    403 "$(status "http://denied.test:$HTTP_PORT/")"
expect "plain HTTP, unlisted name"  403 "$(status "http://other.test:$HTTP_PORT/")"
expect "CONNECT + TLS, allowed"     200 "$(status "https://allowed.test:$TLS_PORT/")"
expect "CONNECT, denied"            403 "$(status "https://denied.test:$TLS_PORT/")"
body=$(curl -s -k --max-time 10 -x "$PROXY" "https://allowed.test:$TLS_PORT/")
expect "tunnelled response body" "hello from the upstream" "$body"

# Domain fronting: CONNECT to the allowed name, SNI of the denied one.
fronted=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -proxy "127.0.0.1:$SQUID_PORT" \
    -connect "allowed.test:$TLS_PORT" -servername denied.test 2>/dev/null | head -c 200 || true)
case "$fronted" in *"hello from the upstream"*) got=through ;; *) got=closed ;; esac
expect "allowed CONNECT, denied SNI" closed "$got"
fronted=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -proxy "127.0.0.1:$SQUID_PORT" \
    -connect "allowed.test:$TLS_PORT" -servername allowed.test 2>/dev/null | head -c 2000 || true)
case "$fronted" in *"hello from the upstream"*) got=through ;; *) got=closed ;; esac
expect "allowed CONNECT, allowed SNI" through "$got"

# Kill the helpers (children of this Squid running our binary) while requests keep coming.
helpers() { ps -o pid=,args= --ppid "$SQUID_PID" | awk '/squid-helper/ {print $1}'; }
before=$(helpers | tr '\n' ' ')
[ -n "$before" ] || { echo "e2e-squid: no helper processes found" >&2; exit 1; }
denied_ok=0
for pid in $before; do kill -9 "$pid"; done
# Right after the kill: denied must stay denied (ERR/BH/no answer all deny).
for _ in 1 2 3; do
    s=$(status "http://denied.test:$HTTP_PORT/")
    [ "$s" = 200 ] && { echo "  FAIL denied name allowed while the helper was down" >&2; exit 1; }
    denied_ok=$((denied_ok + 1))
done
expect "denied while helpers restart (3 tries)" 3 "$denied_ok"
got=000
for _ in $(seq 50); do
    got=$(status "http://allowed.test:$HTTP_PORT/")
    [ "$got" = 200 ] && break
    sleep 0.2
done
expect "allowed again after restart" 200 "$got"
after=$(helpers | tr '\n' ' ')
[ -n "$after" ] && [ "$after" != "$before" ] || { echo "  FAIL helpers not restarted ($before -> $after)" >&2; exit 1; }
echo "  ok   helpers restarted: [$before] -> [$after]"
expect "denied after restart" 403 "$(status "https://denied.test:$TLS_PORT/")"

# Access log: Squid writes it on the fly; give it a moment.
sleep 1
expect_line "access log names the allowing rule" "$WORK/access.log" "allowed.test.*rule=allowed-site"
expect_line "access log names the denying rule" "$WORK/access.log" "denied.test.*rule=denied-site"

e2e_done
