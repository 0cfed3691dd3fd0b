#!/usr/bin/env bash
# Captures the first flight of QUIC Initial datagrams real clients send, on loopback only, as
# parser fixtures: NAME-1.bin, NAME-2.bin, ... (one UDP payload each) + NAME.expect (key=value).
#
# The expected values are written here from what each client was told to send (its server
# name, ALPN, QUIC version), never from hostgate's own output. Clients:
#   - aioquic and qh3 (PyPI, installed into a throw-away virtualenv): a client connection's
#     first datagrams, taken from the library without a server;
#   - chromium (Debian) with QUIC forced on for a name mapped to the recorder, v1 and v2;
#   - ngtcp2's example client (Debian ngtcp2-client), when installed.
# Clients that are not installed are skipped with a note.
#
# Usage: scripts/capture-quic-fixtures.sh [OUTDIR]   (default crates/hostgate/tests/fixtures/quic)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/crates/hostgate/tests/fixtures/quic}
REC=$ROOT/scripts/capture/recorder.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
captured=()
skipped=()
have() { command -v "$1" >/dev/null 2>&1; }
LONG=$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63)).$(printf 'd%.0s' $(seq 61))

# expect NAME CLIENT DATAGRAMS key=value...: writes NAME.expect.
expect() {
    local name=$1 client=$2 n=$3
    shift 3
    {
        echo "# captured by scripts/capture-quic-fixtures.sh; expected values are what the client was told to send"
        echo "client=$client"
        echo "protocol=quic"
        echo "datagrams=$n"
        printf '%s\n' "$@"
    } >"$OUT/$name.expect"
    captured+=("$name")
}

# Python libraries: the client's first datagrams straight from the connection object.
if python3 -m venv "$WORK/venv" >/dev/null 2>&1 &&
    "$WORK/venv/bin/pip" install -q aioquic qh3 >/dev/null 2>&1; then
    cat >"$WORK/gen.py" <<'EOF'
import importlib, sys
out, long_name = sys.argv[1], sys.argv[2]
cases = [
    ("www", "www.example.com", ["h3"], 1),
    ("long", long_name, ["h3"], 1),
    ("idn", "xn--bcher-kva.example", ["h3", "h3-29"], 1),
    ("nosni", None, ["h3"], 1),
    ("v2", "v2.example.com", ["h3"], 2),
]
for lib in ("aioquic", "qh3"):
    cfg_mod = importlib.import_module(lib + ".quic.configuration")
    conn_mod = importlib.import_module(lib + ".quic.connection")
    pkt_mod = importlib.import_module(lib + ".quic.packet")
    for tag, sni, alpn, version in cases:
        cfg = cfg_mod.QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=sni)
        if version == 2:
            cfg.supported_versions = [pkt_mod.QuicProtocolVersion.VERSION_2]
        conn = conn_mod.QuicConnection(configuration=cfg)
        conn.connect(("127.0.0.1", 443), now=0.0)
        datagrams = [d for d, _ in conn.datagrams_to_send(now=0.0)]
        name = "quic-%s-%s" % (lib, tag)
        for k, d in enumerate(datagrams, 1):
            with open("%s/%s-%d.bin" % (out, name, k), "wb") as f:
                f.write(d)
        print(name, lib, len(datagrams), sni or "-", ",".join(alpn), version)
EOF
    while read -r name lib n sni alpn version; do
        if [ "$sni" = "-" ]; then
            expect "$name" "$lib (PyPI) QuicConnection.connect, no server_name" "$n" \
                status=no-name "alpn=$alpn" "version=$version"
        else
            expect "$name" "$lib (PyPI) QuicConnection.connect, server_name=$sni" "$n" \
                status=complete "name=$sni" "alpn=$alpn" "version=$version"
        fi
    done < <("$WORK/venv/bin/python" "$WORK/gen.py" "$OUT" "$LONG")
else
    skipped+=("aioquic, qh3 (pip install failed)")
fi

# record NAME IDLE 'client command using $PORT': the client's first flight into NAME-K.bin.
record() {
    local name=$1 idle=$2 cmd=$3 portfile=$WORK/$1.port
    rm -f "$portfile" "$OUT/$name"-*.bin
    python3 "$REC" udp-flight "$portfile" "$OUT/$name" --idle "$idle" --timeout 30 &
    local rec=$!
    for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.05; done
    PORT=$(cat "$portfile")
    export PORT
    (eval "$cmd") >"$WORK/$name.log" 2>&1 &
    local client=$!
    wait "$rec"
    kill "$client" 2>/dev/null
    pkill -P "$client" 2>/dev/null
    wait "$client" 2>/dev/null
    ls "$OUT/$name"-*.bin 2>/dev/null | wc -l
}

if have chromium; then
    for v in 1 2; do
        flag=""
        [ "$v" = 2 ] && flag="--quic-version=RFCv2"
        n=$(record "quic-chromium-v$v" 0.5 "chromium --headless --no-sandbox --disable-gpu --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir=$WORK/chrome-$v --enable-quic $flag --origin-to-force-quic-on=example.com:443 \
            --host-resolver-rules='MAP example.com 127.0.0.1:'\$PORT --dump-dom https://example.com/")
        if [ "$n" -gt 0 ]; then
            expect "quic-chromium-v$v" "chromium --enable-quic $flag --origin-to-force-quic-on=example.com:443" \
                "$n" status=complete name=example.com alpn=h3 "version=$v"
        else
            skipped+=("chromium v$v (nothing sent)")
        fi
    done
else
    skipped+=("chromium (not installed)")
fi

if have qtlsclient || [ -x /usr/bin/ngtcp2-client ] || have gtlsclient; then
    bin=$(command -v qtlsclient || command -v gtlsclient || echo /usr/bin/ngtcp2-client)
    n=$(record quic-ngtcp2 0.5 "$bin --exit-on-first-stream-close --timeout=3s localhost \$PORT https://localhost/")
    if [ "$n" -gt 0 ]; then
        expect quic-ngtcp2 "ngtcp2 example client (gtlsclient) localhost PORT" "$n" \
            status=complete name=localhost alpn=h3 version=1
    else
        skipped+=("ngtcp2 client (nothing sent)")
    fi
else
    skipped+=("ngtcp2 client (not installed)")
fi

echo "captured into $OUT: ${#captured[@]} fixtures"
for s in "${skipped[@]}"; do echo "skipped: $s"; done
