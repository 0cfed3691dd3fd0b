#!/usr/bin/env bash
# The Lua binding (bindings/lua) under plain LuaJIT, then in nginx's lua module end to end with
# the configuration of examples/nginx/ (its paths and ports replaced), on 127.0.0.1 ports
# 18300-18399:
#
#  1. bindings/lua/test.lua (the contract table, API, errors, GC, no allocation per check) with
#     the JIT on and off;
#  2. the HTTP forward proxy: access_by_lua_block checks the Host header or the absolute-form
#     target `via http` (with its port) and answers 403 on deny; allowed requests are proxied to
#     a local upstream; the access log (a log_format of variables set from Lua) names the host,
#     the verdict and the rule;
#  3. the TLS SNI gate: ssl_client_hello_by_lua_block reads the ClientHello's SNI and aborts the
#     handshake on deny; an allowed handshake carrying a denied Host is still refused (403);
#  4. `nginx -s reload` after the policy file changed: the verdicts follow;
#  5. a policy that does not compile: check-policy.lua prints its FILE:LINE:COL: message; the
#     reload is refused with it in the error log and the old policy stays; a fresh start fails
#     with it on stderr. (`nginx -t` runs no Lua, so it cannot see the policy; that is checked
#     too, so that the docs saying so stay true.)
# Installs Debian's nginx, libnginx-mod-http-lua, lua-resty-core and LuaJIT when missing (root
# or sudo). Leaves nothing running (trap).
set -euo pipefail
source "$(dirname "$0")/lib/e2e.sh"
e2e_init e2e-nginx-lua

install_missing() {
    [ -x /usr/sbin/nginx ] && command -v luajit >/dev/null &&
        [ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] &&
        [ -f /usr/share/lua/5.1/ngx/ssl/clienthello.lua ] && return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # libnginx-mod-http-lua wants OpenResty's LuaJIT (libluajit2-5.1-2), which conflicts with
    # Debian's `luajit` package: its interpreter comes from `luajit2` where that exists.
    local pkgs=(nginx libnginx-mod-http-lua lua-resty-core)
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" luajit2 >/dev/null ||
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" luajit >/dev/null
}
install_missing
PATH=$PATH:/usr/sbin
e2e_need nginx luajit curl openssl python3

cargo build -q --release -p hostgate-ffi
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
export HOSTGATE_LIB=$target/release/libhostgate.so
LUA_DIR=$PWD/bindings/lua

echo "-- plain LuaJIT: bindings/lua/test.lua"
luajit "$LUA_DIR/test.lua"
luajit -joff "$LUA_DIR/test.lua"
# Without HOSTGATE_LIB the module asks the system's library search (ffi.load("hostgate")).
found=$(cd / && HOSTGATE_LIB='' LD_LIBRARY_PATH=$target/release \
    luajit -e "package.path='$LUA_DIR/?.lua;'..package.path print(require('hostgate').version())" 2>&1 || true)
expect "ffi.load(\"hostgate\") through LD_LIBRARY_PATH" "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" "$found"
missing=$(cd / && HOSTGATE_LIB=/nonexistent/libhostgate.so \
    luajit -e "package.path='$LUA_DIR/?.lua;'..package.path require('hostgate')" 2>&1 | head -1 || true)
expect_line "a library that cannot be loaded" <(echo "$missing") "hostgate: cannot load libhostgate.so (set HOSTGATE_LIB to its path): "

e2e_workdir "nginx error log and access log tail" 30 nginx/logs/error.log nginx/logs/access.log
chmod 755 "$WORK" # nginx's workers run as nobody when it is started as root

# Ports in the range this suite owns.
pick_ports() {
    local var port=18300
    for var in "$@"; do
        while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
        [ "$port" -le 18399 ] || { echo "$E2E_NAME: no free port in 18300-18399" >&2; exit 1; }
        printf -v "$var" '%s' "$port"
        port=$((port + 1))
    done
}
pick_ports PROXY_PORT SNI_PORT HTTP_PORT TLS_PORT

e2e_upstream_files upstream.test
e2e_cert gate gate.test
e2e_upstreams

POLICY=$WORK/egress.policy
cat >"$POLICY" <<'EOF'
default deny
allow web.test                        id web
allow ports.test port 8080            id ports-8080
allow secure.test via tls             id secure-sni
allow secure.test via http            id secure-host
deny  denied.test                     id denied-site
EOF

# The configuration is examples/nginx/ itself, with this run's paths and ports; the forward
# proxy's upstream (the name asked for, through a resolver) becomes the local upstream.
P=$WORK/nginx
mkdir -p "$P/conf" "$P/logs" "$P/tmp"
subst() { # subst FILE: examples/nginx/FILE into $P/conf with this run's paths and ports
    sed -e "s|/etc/hostgate/egress.policy|$POLICY|" \
        -e "s|/var/log/nginx/hostgate.log|logs/access.log|" \
        -e "s|listen 127.0.0.1:3128;|listen 127.0.0.1:$PROXY_PORT;|" \
        -e "s|proxy_pass http://\$host:\$hg_port;|proxy_pass http://127.0.0.1:$HTTP_PORT;|" \
        -e "s|listen 443 ssl;|listen 127.0.0.1:$SNI_PORT ssl;|" \
        -e "s|/etc/nginx/hostgate-gate\.|$WORK/gate.|" \
        -e "s|proxy_pass http://127.0.0.1:8080;|proxy_pass http://127.0.0.1:$HTTP_PORT;|" \
        "examples/nginx/$1" >"$P/conf/$1"
    if grep -v '^ *#' "$P/conf/$1" | grep -e '/etc/' -e '/var/log' -e ':3128' -e '443 ssl' -e ':8080' -e '\$hg_port;'; then
        echo "$E2E_NAME: examples/nginx/$1 no longer has what this suite replaces" >&2
        exit 1
    fi
}
for f in hostgate.conf forward-proxy.conf sni-gate.conf; do subst "$f"; done
cat >"$P/conf/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
daemon off;
worker_processes 2;
pid logs/nginx.pid;
error_log logs/error.log info;
env HOSTGATE_LIB;
events { worker_connections 256; }

http {
    lua_package_path "$LUA_DIR/?.lua;;";
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include hostgate.conf;
    include forward-proxy.conf;
    include sni-gate.conf;
}
EOF
NGINX=(nginx -p "$P/" -c conf/nginx.conf)

echo "-- nginx -t: the configuration's syntax"
"${NGINX[@]}" -e stderr -t >"$WORK/t.out" 2>&1 || { cat "$WORK/t.out" >&2; exit 1; }
expect "nginx -t" yes "$(grep -q 'test is successful' "$WORK/t.out" && echo yes || echo no)"

"${NGINX[@]}" -e logs/error.log &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$HTTP_PORT"; wait_port "$PROXY_PORT"; wait_port "$SNI_PORT"

host() { # host NAME: HTTP status through the proxy for Host: NAME
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $1" "http://127.0.0.1:$PROXY_PORT/" || true
}
proxied() { # proxied URL: HTTP status for an absolute-form request through the proxy
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$PROXY_PORT" "$1" || true
}
sni() { # sni NAME [HOST]: "200"/"403" after a handshake with SNI NAME, "handshake failed" if refused
    local out
    out=$(printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "${2:-$1}" |
        timeout 10 openssl s_client -connect "127.0.0.1:$SNI_PORT" -servername "$1" -quiet \
            -verify_quiet 2>/dev/null | head -1 || true)
    case "$out" in
    *" 200 "*) echo 200 ;;
    *" 403 "*) echo 403 ;;
    "") echo "handshake failed" ;;
    *) echo "other: $out" ;;
    esac
}
body() { curl -s --max-time 10 -H "Host: $1" "http://127.0.0.1:$PROXY_PORT/" || true; }

echo "-- forward proxy: Host header and absolute-form targets, via http"
expect "Host web.test" 200 "$(host web.test)"
expect "the upstream's page" "hello from the upstream" "$(body web.test)"
expect "Host WEB.Test. (normalized)" 200 "$(host WEB.Test.)"
expect "Host denied.test" 403 "$(host denied.test)"
expect "Host other.test (default deny)" 403 "$(host other.test)"
expect "Host secure.test (allowed via http)" 200 "$(host secure.test)"
expect "-x http://web.test/" 200 "$(proxied http://web.test/)"
expect "-x http://denied.test/" 403 "$(proxied http://denied.test/)"
expect "-x http://ports.test:8080/" 200 "$(proxied http://ports.test:8080/)"
expect "-x http://ports.test/ (port 80)" 403 "$(proxied http://ports.test/)"
expect "Host ports.test:8080" 200 "$(host ports.test:8080)"
# The request line's target decides over a Host header that says otherwise.
expect "-x http://denied.test/ with Host: web.test" 403 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$PROXY_PORT" -H 'Host: web.test' http://denied.test/ || true)"
expect "HTTP/1.0 without a Host" 403 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -0 -H 'Host:' "http://127.0.0.1:$PROXY_PORT/" || true)"

echo "-- TLS: the ClientHello's SNI, via tls"
expect "SNI secure.test" 200 "$(sni secure.test)"
expect "SNI web.test (allowed, any via)" 200 "$(sni web.test)"
expect "SNI denied.test" "handshake failed" "$(sni denied.test)"
expect "SNI other.test" "handshake failed" "$(sni other.test)"
expect "SNI secure.test, Host denied.test" 403 "$(sni secure.test denied.test)"

sleep 0.3 # the access log is written as the request ends
LOG=$P/logs/access.log
expect_line "log: allowed Host" "$LOG" 'name=web.test port=80 verdict=allow reason=matched rule=web '
expect_line "log: denied Host" "$LOG" '" 403 name=denied.test port=80 verdict=deny reason=matched rule=denied-site '
expect_line "log: default deny" "$LOG" '" 403 name=other.test port=80 verdict=deny reason=default rule=- '
expect_line "log: absolute-form port" "$LOG" '"GET http://ports.test:8080/ HTTP/1.1" 200 name=ports.test port=8080 verdict=allow reason=matched rule=ports-8080 '
expect_line "log: TLS request" "$LOG" " 200 name=secure.test port=$SNI_PORT verdict=allow reason=matched rule=secure-host sni=secure.test"
expect_line "log: fronting refused" "$LOG" " 403 name=denied.test port=$SNI_PORT verdict=deny reason=matched rule=denied-site sni=secure.test"
expect_line "error log: SNI denied" "$P/logs/error.log" "hostgate: deny sni=denied.test port=$SNI_PORT reason=matched rule=denied-site"
worker_lines() { # worker_lines N: the init_worker log lines, waiting (bounded) for N of them
    local n
    for _ in $(seq 50); do
        n=$(grep -c "hostgate .*: worker [0-9]* has policies default" "$P/logs/error.log" || true)
        [ "$n" -ge "$1" ] && break
        sleep 0.1
    done
    echo "$n"
}
expect "workers started with the engine" 2 "$(worker_lines 2)"

# Reload, then wait (bounded) until every worker from before has exited, so that the requests
# after it can only reach the new workers: "gone", or the pids still running.
reload_and_wait() {
    local old pid alive
    old=$(pgrep -P "$NGINX_PID" || true)
    "${NGINX[@]}" -e logs/error.log -s reload
    for _ in $(seq 100); do
        alive=""
        for pid in $old; do kill -0 "$pid" 2>/dev/null && alive+="$pid "; done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    echo "${alive:-gone}"
}

echo "-- nginx -s reload after the policy changed"
cat >"$POLICY" <<'EOF'
default deny
allow later.test                      id later
allow secure.test via tls             id secure-sni
allow secure.test via http            id secure-host
allow denied.test                     id now-allowed
EOF
expect "the workers from before the reload" gone "$(reload_and_wait)"
expect "workers started with the new engine" 4 "$(worker_lines 4)"
expect "Host later.test after reload" 200 "$(host later.test)"
expect "Host web.test after reload" 403 "$(host web.test)"
expect "Host denied.test after reload" 200 "$(host denied.test)"
expect "SNI denied.test after reload" 200 "$(sni denied.test)"
sleep 0.3
expect_line "log: the new rule" "$LOG" 'name=denied.test port=80 verdict=allow reason=matched rule=now-allowed '

echo "-- a policy that does not compile"
good=$(cat "$POLICY")
cat >"$POLICY" <<'EOF'
default deny
allow later.test                      id later
allow a..b.test
EOF
ERR="$POLICY:3:9: invalid name in pattern: empty label"
rc=0
luajit "$LUA_DIR/check-policy.lua" "$POLICY" >"$WORK/check.out" 2>&1 || rc=$?
expect "check-policy.lua fails" 1 "$rc"
expect "check-policy.lua prints FILE:LINE:COL: message" "$ERR" "$(cat "$WORK/check.out")"
# The lua module starts no Lua under -t, so nginx -t cannot see the policy: the reload is where
# it is refused.
expect "nginx -t does not run init_by_lua" 0 "$("${NGINX[@]}" -e stderr -t >/dev/null 2>&1; echo $?)"
lines_before=$(wc -l <"$P/logs/error.log")
"${NGINX[@]}" -e logs/error.log -s reload
refused=no
for _ in $(seq 50); do
    if tail -n +"$((lines_before + 1))" "$P/logs/error.log" | grep -qF "$ERR"; then
        refused=yes
        break
    fi
    sleep 0.1
done
expect "reload refused, FILE:LINE:COL: message in the error log" yes "$refused"
expect "the old policy stays: later.test" 200 "$(host later.test)"
expect "the old policy stays: web.test" 403 "$(host web.test)"
expect "the old policy stays: SNI denied.test" 200 "$(sni denied.test)"

# A second nginx on the same configuration (its own pid file) refuses to start with the error.
sed -e "s|^pid logs/nginx.pid;|pid logs/second.pid;|" "$P/conf/nginx.conf" >"$P/conf/second.conf"
rc=0
timeout 20 nginx -p "$P/" -c conf/second.conf -e stderr >"$WORK/start.out" 2>&1 || rc=$?
expect "nginx does not start on the bad policy" 1 "$rc"
expect_line "its stderr has FILE:LINE:COL: message" "$WORK/start.out" "$ERR"
printf '%s\n' "$good" >"$POLICY"
expect "check-policy.lua accepts the good one" 0 "$(luajit "$LUA_DIR/check-policy.lua" "$POLICY" 2>/dev/null; echo $?)"

e2e_done
