# Shared machinery of the end-to-end suites scripts/test.d/e2e-*.sh, which source it with
#     source "$(dirname "$0")/lib/e2e.sh"
# It lives in a subdirectory so that scripts/test.sh (which runs every scripts/test.d/*.sh) does
# not run it on its own. Sourcing only defines functions; a suite calls them in this order:
#
#   e2e_init NAME                  NAME ("e2e-squid") prefixes messages; cd to the repo root and
#                                  start the clock
#   e2e_need TOOL...               exit unless every TOOL is on PATH
#   e2e_workdir WHAT LINES LOG...  $WORK (temp dir), $PIDS and the cleanup trap: on exit, kill
#                                  everything in PIDS (kill -9 after 5 s), on failure print
#                                  "NAME: FAILED; WHAT:" and the last LINES lines of each LOG (file
#                                  names in $WORK), then remove $WORK unless KEEP_WORK is set. A
#                                  suite may define e2e_before_stop, run first thing on cleanup.
#   e2e_ports VAR...               a distinct free loopback port in each variable
#   e2e_upstream_files CN          $WORK/www/index.html ("hello from the upstream") and a
#                                  self-signed certificate for CN, $WORK/upstream.{crt,key}
#   e2e_upstreams [keep-alive]     the upstream servers, on 127.0.0.1: HTTP on $HTTP_PORT and
#                                  HTTPS on $TLS_PORT, serving $WORK/www (HTTP/1.0 and logging
#                                  requests, or HTTP/1.1 keep-alive and quiet)
#   wait_port PORT                 until something listens on PORT (E2E_PORT_TRIES x 0.1 s)
#   expect WHAT WANT GOT           one check: "  ok   WHAT: GOT", or "  FAIL ..." and exit 1
#   e2e_done                       the closing "NAME: took Ns" and "NAME: N passed, 0 failed"
#
# Also: free_port (one free loopback port) and e2e_cert NAME CN ($WORK/NAME.{crt,key}).
#
# The differential suites scripts/test.d/diff-*.sh, which also set BIN (the hostgate binary),
# DATA (their test data directory) and TABLE (its cases.tsv), check the table's rows with
#   check_table PROGRAM FORMAT SUFFIX
#                                  for each config C of $TABLE (tab-separated: config, name,
#                                  port, via, the verdict wanted), in the table's order:
#                                  `start_PROGRAM $DATA/configs/C$SUFFIX PORT` (PORT: the port
#                                  of C's first row), then for each row of C "PROGRAM" expects
#                                  `PROGRAM_verdict NAME PORT VIA` to give the wanted verdict
#                                  and "hostgate" expects `$BIN check --from FORMAT` on the same
#                                  file to give PROGRAM's; then `stop_PROGRAM`
# and configurations hostgate must refuse with
#   check_refusals CHECK WHAT WANT FORMAT FILE...
#                                  for each FILE (named by its path under $DATA): "FILE: WHAT"
#                                  expects `CHECK FILE` (the real program's own check of it,
#                                  printing accepted or refused) to print WANT; "FILE: hostgate
#                                  import" expects `$BIN import --from FORMAT FILE` to refuse it
#                                  (exit 2 with an error), the error's first line printed under
#                                  it and all of it left in $WORK/import.err

e2e_init() { # e2e_init NAME
    E2E_NAME=$1
    E2E_START=$SECONDS
    cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
}

e2e_need() { # e2e_need TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$E2E_NAME: needs $tool" >&2; exit 1; }
    done
}

e2e_workdir() { # e2e_workdir WHAT LINES LOG...
    E2E_FAIL_WHAT=$1
    E2E_FAIL_LINES=$2
    E2E_FAIL_LOGS=("${@:3}")
    WORK=$(mktemp -d "/tmp/hostgate-$E2E_NAME.XXXXXX")
    PIDS=()
    trap e2e_cleanup EXIT INT TERM
}

e2e_cleanup() {
    local rc=$? pid log logs=()
    if declare -F e2e_before_stop >/dev/null; then e2e_before_stop; fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Up to 5 s each to stop on its own (Squid, for one, stops its helpers when it exits).
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        echo "$E2E_NAME: FAILED; $E2E_FAIL_WHAT:" >&2
        for log in "${E2E_FAIL_LOGS[@]}"; do logs+=("$WORK/$log"); done
        tail -n "$E2E_FAIL_LINES" "${logs[@]}" >&2 2>/dev/null || true
    fi
    [ -n "${KEEP_WORK:-}" ] && echo "$E2E_NAME: kept $WORK" || rm -rf "$WORK"
    exit "$rc"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

e2e_ports() { # e2e_ports VAR...
    local var port taken=" "
    for var in "$@"; do
        port=$(free_port)
        while [[ "$taken" == *" $port "* ]]; do port=$(free_port); done
        taken+="$port "
        printf -v "$var" '%s' "$port"
    done
}

e2e_cert() { # e2e_cert NAME CN
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null
}

e2e_upstream_files() { # e2e_upstream_files CN
    mkdir -p "$WORK/www"
    echo "hello from the upstream" > "$WORK/www/index.html"
    e2e_cert upstream "$1"
}

e2e_upstreams() { # e2e_upstreams [keep-alive]
    cat > "$WORK/upstream.py" <<'EOF'
import http.server, ssl, sys, functools
port, work, tls, keep_alive = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "tls", sys.argv[4] == "keep-alive"
class H(http.server.SimpleHTTPRequestHandler):
    if keep_alive:
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(H, directory=work + "/www"))
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(work + "/upstream.crt", work + "/upstream.key")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
    python3 "$WORK/upstream.py" "$HTTP_PORT" "$WORK" http "${1:-}" >"$WORK/http.log" 2>&1 &
    PIDS+=($!)
    python3 "$WORK/upstream.py" "$TLS_PORT" "$WORK" tls "${1:-}" >"$WORK/tls.log" 2>&1 &
    PIDS+=($!)
}

wait_port() { # wait_port PORT
    for _ in $(seq "${E2E_PORT_TRIES:-100}"); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$E2E_NAME: port $1 never opened" >&2; return 1
}

PASS=0
expect() { # expect WHAT WANT GOT
    if [ "$2" = "$3" ]; then PASS=$((PASS + 1)); echo "  ok   $1: $3"
    else echo "  FAIL $1: want $2, got $3" >&2; exit 1; fi
}

expect_line() { # expect_line WHAT FILE PATTERN: FILE has a line matching PATTERN (grep BRE)
    local r=no
    grep -q -- "$3" "$2" && r=yes
    expect "$1" yes "$r"
}

hostgate_import() { # hostgate_import FORMAT FILE -> accepted | refused: FIRST ERROR | ...
    local rc=0 first
    "$BIN" import --from "$1" "$2" >/dev/null 2>"$WORK/import.err" || rc=$?
    first=$(head -1 "$WORK/import.err")
    # A refusal is exit 2 with its reason; a crash or a silent failure is neither answer.
    case "$rc:$first" in
        0:*) echo accepted ;;
        2:?*) echo "refused: $first" ;;
        *) echo "exit $rc without a refusal: $first" ;;
    esac
}

check_refusals() { # check_refusals CHECK WHAT WANT FORMAT FILE...
    local check=$1 what=$2 want=$3 format=$4 file name got
    shift 4
    for file in "$@"; do
        name=${file#"$DATA"/}
        # An unmatched glob stays as written: no file is a failure, not nothing to check.
        [ -e "$file" ] || { echo "  FAIL $name: no such file" >&2; exit 1; }
        expect "$name: $what" "$want" "$("$check" "$file")"
        got=$(hostgate_import "$format" "$file")
        echo "       $got"
        expect "$name: hostgate import" refused "${got%%:*}"
    done
}

check_table() { # check_table PROGRAM FORMAT SUFFIX
    local prog=$1 format=$2 suffix=$3 configs config file c name port via want got_prog got_hg
    configs=$(awk -F'\t' '!/^#/ && NF >= 5 { print $1 }' "$TABLE" | awk '!seen[$0]++')
    for config in $configs; do
        file="$DATA/configs/$config$suffix"
        "start_$prog" "$file" "$(awk -F'\t' -v c="$config" '$1 == c { print $3; exit }' "$TABLE")"
        while IFS=$'\t' read -r c name port via want _; do
            [ "$c" = "$config" ] || continue
            got_prog=$("${prog}_verdict" "$name" "$port" "$via")
            got_hg=$("$BIN" check --from "$format" --policy "$file" --port "$port" --via "$via" \
                -- "$name" 2>/dev/null | awk '{print $1}')
            expect "$config: $name:$port via $via: $prog" "$want" "$got_prog"
            expect "$config: $name:$port via $via: hostgate" "$got_prog" "$got_hg"
        done < <(grep -v '^#' "$TABLE")
        "stop_$prog"
    done
}

e2e_done() {
    echo "$E2E_NAME: took $((SECONDS - E2E_START))s"
    echo "$E2E_NAME: $PASS passed, 0 failed"
}
