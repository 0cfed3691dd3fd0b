#!/usr/bin/env bash
# Differential: the real nginx against `hostgate check --from nginx`, on every row of
# crates/hostgate-import/tests/data/nginx/cases.tsv (the table `cargo test -p hostgate-import
# --test nginx` also checks, without nginx).
#
# For each config of the table, nginx is started on its own (`-p` a temporary prefix, `-c` the
# config as it is in the repository, so relative `include`s resolve as they do there), and
# every row's query is sent to 127.0.0.1 on the row's port:
#   via tls:  openssl s_client with the row's name as SNI, then a GET; the config's stream
#             servers pass allowed names to the loopback TLS upstream (127.0.0.1:18202):
#             allow = the upstream's page comes back; deny = the connection is closed.
#   via http: curl with `Host: NAME:PORT`; the config's http servers proxy allowed names to the
#             loopback HTTP upstream (127.0.0.1:18201):
#             allow = the upstream's page; deny = 403 or the connection refused/closed.
# Anything else fails the run. Each answer must equal the table and hostgate's verdict.
# Then: each config of refused/ is refused by `nginx -t` and by hostgate; each config of
# unsupported/ is accepted by `nginx -t` and refused by hostgate with a reason; Debian's own
# /etc/nginx/nginx.conf is accepted by `nginx -t` and refused by hostgate with a reason.
# Installs Debian's nginx and its stream module (libnginx-mod-stream) when missing. Loopback
# ports 18201-18299 only. Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init diff-nginx

STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
if ! command -v nginx >/dev/null || [ ! -e "$STREAM_MODULE" ]; then
    echo "diff-nginx: installing nginx and libnginx-mod-stream"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light libnginx-mod-stream >/dev/null
fi
e2e_need nginx curl openssl python3

cargo build -q -p hostgate-cli
BIN="$PWD/${CARGO_TARGET_DIR:-target}/debug/hostgate"
DATA="$PWD/crates/hostgate-import/tests/data/nginx"
TABLE="$DATA/cases.tsv"

e2e_workdir "nginx error.log tail" 30 error.log
HTTP_PORT=18201
TLS_PORT=18202
mkdir -p "$WORK/prefix/logs"
e2e_upstream_files upstream.test
e2e_upstreams
wait_port "$HTTP_PORT"
wait_port "$TLS_PORT"

# The test-only settings, outside the configs: the module, where nginx writes, foreground.
GLOBALS="load_module $STREAM_MODULE; daemon off; pid $WORK/nginx.pid;"
nginx_args() { # nginx_args CONFIG
    printf '%s\n' -p "$WORK/prefix/" -e "$WORK/error.log" -c "$1" -g "$GLOBALS"
}

NGINX_PID=
start_nginx() { # start_nginx CONFIG PORT: nginx with CONFIG, once it listens on PORT
    local args
    mapfile -t args < <(nginx_args "$1")
    nginx -t -q "${args[@]}" 2>>"$WORK/error.log" || { tail "$WORK/error.log" >&2; exit 1; }
    nginx "${args[@]}" >>"$WORK/error.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_port "$2"
}

stop_nginx() {
    [ -n "$NGINX_PID" ] || return 0
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
}

nginx_verdict() { # nginx_verdict NAME PORT VIA -> allow | deny | "other: ..."
    local out code
    if [ "$3" = tls ]; then
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -quiet \
            -connect "127.0.0.1:$2" -servername "$1" 2>/dev/null | head -c 2000 || true)
        case "$out" in *"hello from the upstream"*) echo allow ;; "") echo deny ;; *) echo "other: $out" ;; esac
        return
    fi
    out=$(curl -s --max-time 5 -o "$WORK/body" -w '%{http_code}' -H "Host: $1:$2" "http://127.0.0.1:$2/" || true)
    code=$out
    if [ "$code" = 200 ] && grep -q "hello from the upstream" "$WORK/body"; then echo allow
    elif [ "$code" = 403 ] || [ "$code" = 000 ]; then echo deny
    else echo "other: status $code"; fi
}

echo "diff-nginx: $(nginx -v 2>&1); upstreams :$HTTP_PORT (http) :$TLS_PORT (tls); table $TABLE"
check_table nginx nginx ""

nginx_t() { # nginx_t CONFIG -> accepted | refused
    local args
    mapfile -t args < <(nginx_args "$1")
    if nginx -t -q "${args[@]}" >"$WORK/t.log" 2>&1; then echo accepted; else echo refused; fi
}

check_refusals nginx_t "nginx -t" refused nginx "$DATA"/refused/*.conf
check_refusals nginx_t "nginx -t" accepted nginx "$DATA"/unsupported/*.conf

# Debian's default configuration: nginx takes it; hostgate refuses it, saying why.
debian_nginx_t() { # debian_nginx_t CONFIG -> accepted | refused: `nginx -t` as installed
    if nginx -t -q -c "$1" >"$WORK/t.log" 2>&1; then echo accepted; else echo refused; fi
}
if [ -e /etc/nginx/nginx.conf ]; then
    check_refusals debian_nginx_t "nginx -t" accepted nginx /etc/nginx/nginx.conf
    expect_line "/etc/nginx/nginx.conf: the reason" "$WORK/import.err" "serves files"
fi

e2e_done
