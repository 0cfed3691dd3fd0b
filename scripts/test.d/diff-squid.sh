#!/usr/bin/env bash
# Differential: the real Squid 5 against `hostgate check --from squid`, on every row of
# crates/hostgate-import/tests/data/squid/cases.tsv (the table `cargo test -p hostgate-import
# --test squid` also checks, without Squid).
#
# For each config of the table, Squid is started once on loopback with that config (plus
# test-only settings), and every row's query is sent through it with curl: `via http` as a
# plain request with an absolute-form target, `via connect` as a CONNECT (curl -p). Every name
# resolves to 127.0.0.1 (hosts_file) where nothing listens on the asked port, so:
#   deny  = 403 with X-Squid-Error: ERR_ACCESS_DENIED (http_access refused it);
#   allow = Squid went on to connect: 503 ERR_CONNECT_FAIL, or ERR_DNS_FAIL, or any answer
#           from a server that happens to listen there.
# `via tls` rows go to a second port, with ssl-bump: openssl s_client sends a CONNECT to a
# loopback TLS server and a ClientHello with the row's name as SNI;
#   allow = the upstream's page comes back through the tunnel (spliced);
#   deny  = the connection is closed (terminated).
# (Plain and CONNECT rows use a port without ssl-bump: there Squid answers a denied CONNECT
# with 403 instead of bumping the connection to deliver the error.) tls rows' configs must
# not depend on the port: the tunnel goes to the upstream's port, hostgate is asked the row's.
# Anything else fails the run. Each answer must equal hostgate's verdict and the table's.
# Then each config of tests/data/squid/refused/ must be refused both by `squid -k parse` and
# by hostgate.
# Installs squid-openssl itself when `squid` is missing. Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init diff-squid

if ! command -v squid >/dev/null; then
    echo "diff-squid: installing squid-openssl"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq squid-openssl >/dev/null
fi
e2e_need curl openssl python3

cargo build -q -p hostgate-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/hostgate"
DATA=crates/hostgate-import/tests/data/squid
TABLE="$DATA/cases.tsv"

e2e_workdir "cache.log tail" 30 cache.log
e2e_ports SQUID_PORT BUMP_PORT HTTP_PORT TLS_PORT
mkdir -p "$WORK/cache"
e2e_upstream_files upstream.test
e2e_cert bump hostgate-bump
cat "$WORK/bump.crt" "$WORK/bump.key" > "$WORK/bump.pem"

# Every name of the table (lowercase, without the trailing dot Squid removes) -> 127.0.0.1.
awk -F'\t' '!/^#/ && NF >= 5 { n = tolower($2); sub(/\.$/, "", n); print "127.0.0.1 " n }' "$TABLE" \
    | sort -u > "$WORK/hosts"
echo "127.0.0.1 upstream.test" >> "$WORK/hosts"
chmod 755 "$WORK"
e2e_upstreams
wait_port "$TLS_PORT"

SQUID_PID=
start_squid() { # start_squid CONFIG: Squid with CONFIG's access rules on $SQUID_PORT
    cat > "$WORK/squid.conf" <<EOF
http_port 127.0.0.1:$SQUID_PORT
http_port 127.0.0.1:$BUMP_PORT ssl-bump tls-cert=$WORK/bump.pem generate-host-certificates=off
pid_filename $WORK/squid.pid
cache_log $WORK/cache.log
access_log stdio:$WORK/access.log
coredump_dir $WORK/cache
hosts_file $WORK/hosts
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
cache_effective_user proxy
cache deny all
EOF
    cat "$1" >> "$WORK/squid.conf"
    chown -R proxy:proxy "$WORK"
    squid -k parse -f "$WORK/squid.conf" >"$WORK/parse.log" 2>&1 || { cat "$WORK/parse.log" >&2; exit 1; }
    squid -N -f "$WORK/squid.conf" >"$WORK/squid.out" 2>&1 &
    SQUID_PID=$!
    PIDS+=("$SQUID_PID")
    wait_port "$SQUID_PORT"
    wait_port "$BUMP_PORT"
}

stop_squid() {
    [ -n "$SQUID_PID" ] || return 0
    kill "$SQUID_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SQUID_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SQUID_PID" 2>/dev/null || true
    wait "$SQUID_PID" 2>/dev/null || true
    # Squid's children (kids) go with it; the port must be free for the next start.
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$SQUID_PORT),0.2)" 2>/dev/null || break
        sleep 0.1
    done
    SQUID_PID=
}

squid_verdict() { # squid_verdict NAME PORT VIA -> allow | deny | "other: ..."
    local out code err
    if [ "$3" = tls ]; then
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet \
            -proxy "127.0.0.1:$BUMP_PORT" -connect "upstream.test:$TLS_PORT" -servername "$1" \
            2>/dev/null | head -c 2000 || true)
        case "$out" in *"hello from the upstream"*) echo allow ;; *) echo deny ;; esac
        return
    fi
    if [ "$3" = connect ]; then
        out=$(curl -s -v -o /dev/null -p --max-time 15 -x "http://127.0.0.1:$SQUID_PORT" \
            -w '%{http_connect}' "http://$1:$2/" 2>"$WORK/curl.err" || true)
    else
        out=$(curl -s -v -o /dev/null --max-time 15 -x "http://127.0.0.1:$SQUID_PORT" \
            -w '%{http_code}' "http://$1:$2/" 2>"$WORK/curl.err" || true)
    fi
    code=$out
    err=$(grep -i -o 'X-Squid-Error: [A-Z_]*' "$WORK/curl.err" | head -1 | awk '{print $2}' || true)
    case "$code:$err" in
        403:ERR_ACCESS_DENIED) echo deny ;;
        *:ERR_CONNECT_FAIL | *:ERR_DNS_FAIL | *:ERR_READ_ERROR | *:ERR_ZERO_SIZE_OBJECT) echo allow ;;
        200:* | 30[0-9]:* | 404:* | 400:) echo allow ;;
        *) echo "other: status $code ${err:-no X-Squid-Error}" ;;
    esac
}

echo "diff-squid: squid on 127.0.0.1:$SQUID_PORT (ssl-bump :$BUMP_PORT), upstream :$TLS_PORT, table $TABLE"
check_table squid squid ".conf"

# Configurations Squid refuses to start with: hostgate refuses them too.
squid_parse() { # squid_parse CONFIG -> accepted | refused (by `squid -k parse`)
    {
        printf 'pid_filename %s/squid.pid\ncache_log %s/cache.log\n' "$WORK" "$WORK"
        cat "$1"
    } >"$WORK/refused.conf"
    if squid -k parse -f "$WORK/refused.conf" >"$WORK/parse.log" 2>&1; then echo accepted; else echo refused; fi
}
check_refusals squid_parse "squid -k parse" refused squid "$DATA"/refused/*.conf
e2e_done
