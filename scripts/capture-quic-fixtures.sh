#!/usr/bin/env bash
# Captures the first flight of QUIC Initial datagrams real clients send, on loopback only, as
# parser fixtures: NAME-1.bin, NAME-2.bin, ... (one UDP payload each) + NAME.expect (key=value).
#
# The expected values are written here from what each client was told to send (its server
# name, ALPN, QUIC version), never from hostgate's own output. Clients:
#   - aioquic and qh3 (PyPI, installed into a throw-away virtualenv): a client connection's
#     first datagrams, taken from the library without a network: several SNIs, no SNI, QUIC v2,
#     0-RTT (a ticket from a handshake with a server in memory; Initial + 0-RTT coalesced), and
#     the flight after a Retry (new connection ID, token);
#   - chromium (Debian) with QUIC forced on for a name mapped to the recorder, v1 and v2;
#   - firefox-esr (Debian), headless, HTTP/3 forced to the recorder by its testing prefs;
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
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=zero.example.com" \
        -keyout "$WORK/srv.key" -out "$WORK/srv.crt" 2>/dev/null
    cat >"$WORK/gen.py" <<'EOF'
import importlib, os, sys
out, long_name, cert, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
cases = [
    ("www", "www.example.com", ["h3"], 1),
    ("long", long_name, ["h3"], 1),
    ("idn", "xn--bcher-kva.example", ["h3", "h3-29"], 1),
    ("nosni", None, ["h3"], 1),
    ("v2", "v2.example.com", ["h3"], 2),
]
def write(name, datagrams):
    for k, d in enumerate(datagrams, 1):
        with open("%s/%s-%d.bin" % (out, name, k), "wb") as f:
            f.write(d)


def flight(conn, now):
    return [d for d, _ in conn.datagrams_to_send(now=now)]


for lib in ("aioquic", "qh3"):
    cfg_mod = importlib.import_module(lib + ".quic.configuration")
    conn_mod = importlib.import_module(lib + ".quic.connection")
    pkt_mod = importlib.import_module(lib + ".quic.packet")
    # qh3 keeps its Buffer in quic.packet.
    Buffer = getattr(pkt_mod, "Buffer", None) or importlib.import_module(lib + ".buffer").Buffer
    Config, Conn = cfg_mod.QuicConfiguration, conn_mod.QuicConnection
    for tag, sni, alpn, version in cases:
        cfg = Config(is_client=True, alpn_protocols=alpn, server_name=sni)
        if version == 2:
            cfg.supported_versions = [pkt_mod.QuicProtocolVersion.VERSION_2]
        conn = Conn(configuration=cfg)
        conn.connect(("127.0.0.1", 443), now=0.0)
        datagrams = flight(conn, 0.0)
        name = "quic-%s-%s" % (lib, tag)
        write(name, datagrams)
        print(name, lib, len(datagrams), sni or "-", ",".join(alpn), version)

    # 0-RTT: a full handshake with a server in memory gives a session ticket; the next
    # connection's first flight carries an Initial and a 0-RTT packet with early data.
    sni = "zero.example.com"
    tickets, store = [], {}
    ccfg = Config(is_client=True, alpn_protocols=["h3"], server_name=sni)
    ccfg.verify_mode = 0
    scfg = Config(is_client=False, alpn_protocols=["h3"])
    scfg.load_cert_chain(cert, key)
    client = Conn(configuration=ccfg, session_ticket_handler=tickets.append)
    client.connect(("127.0.0.1", 443), now=0.0)
    server, now = None, 0.0
    for _ in range(20):
        now += 0.01
        for d in flight(client, now):
            if server is None:
                h = pkt_mod.pull_quic_header(Buffer(data=d), host_cid_length=8)
                server = Conn(
                    configuration=scfg,
                    original_destination_connection_id=h.destination_cid,
                    session_ticket_fetcher=store.pop,
                    session_ticket_handler=lambda t: store.__setitem__(t.ticket, t),
                )
            server.receive_datagram(d, ("127.0.0.2", 5000), now=now)
        if server is not None:
            for d in flight(server, now):
                client.receive_datagram(d, ("127.0.0.1", 443), now=now)
    if tickets:
        cfg = Config(is_client=True, alpn_protocols=["h3"], server_name=sni)
        cfg.session_ticket = tickets[-1]
        conn = Conn(configuration=cfg)
        conn.connect(("127.0.0.1", 443), now=1.0)
        conn.send_stream_data(conn.get_next_available_stream_id(), b"GET /", end_stream=True)
        datagrams = flight(conn, 1.0)
        write("quic-%s-0rtt" % lib, datagrams)
        print("quic-%s-0rtt" % lib, lib, len(datagrams), sni, "h3", 1)

    # Retry: the server's Retry (made here, with its integrity tag) sends the client to a new
    # connection ID with a token; its next Initial flight is the fixture.
    sni = "retry.example.com"
    conn = Conn(configuration=Config(is_client=True, alpn_protocols=["h3"], server_name=sni))
    conn.connect(("127.0.0.1", 443), now=2.0)
    first = flight(conn, 2.0)
    h = pkt_mod.pull_quic_header(Buffer(data=first[0]), host_cid_length=8)
    retry = pkt_mod.encode_quic_retry(
        version=h.version,
        source_cid=os.urandom(8),
        destination_cid=h.source_cid,
        original_destination_cid=h.destination_cid,
        retry_token=b"retry-token-" + os.urandom(16),
    )
    conn.receive_datagram(retry, ("127.0.0.1", 443), now=2.1)
    datagrams = flight(conn, 2.1)
    write("quic-%s-retry" % lib, datagrams)
    print("quic-%s-retry" % lib, lib, len(datagrams), sni, "h3", 1)
EOF
    while read -r name lib n sni alpn version; do
        if [ "$sni" = "-" ]; then
            expect "$name" "$lib (PyPI) QuicConnection.connect, no server_name" "$n" \
                status=no-name "alpn=$alpn" "version=$version"
        else
            expect "$name" "$lib (PyPI) QuicConnection.connect, server_name=$sni" "$n" \
                status=complete "name=$sni" "alpn=$alpn" "version=$version"
        fi
    done < <("$WORK/venv/bin/python" "$WORK/gen.py" "$OUT" "$LONG" "$WORK/srv.crt" "$WORK/srv.key")
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

# firefox-esr with HTTP/3 forced to 127.0.0.1:$PORT by its testing prefs (the port is known
# only once the recorder listens, so the profile is written here).
firefox_client() {
    mkdir -p "$WORK/ff"
    cat >"$WORK/ff/user.js" <<PREFS
user_pref("network.http.http3.enable", true);
user_pref("network.http.http3.alt-svc-mapping-for-testing", "example.com;h3=:$PORT");
user_pref("network.http.http3.force-use-alt-svc-mapping-for-testing", true);
user_pref("network.dns.forceResolve", "127.0.0.1");
user_pref("network.trr.mode", 5);
PREFS
    firefox-esr --headless --no-remote --profile "$WORK/ff" --screenshot "$WORK/ff/s.png" https://example.com/
}

if have firefox-esr; then
    n=$(record quic-firefox 0.5 firefox_client)
    if [ "$n" -gt 0 ]; then
        expect quic-firefox "firefox-esr --headless, HTTP/3 to example.com forced by its testing prefs" \
            "$n" status=complete name=example.com alpn=h3 version=1
    else
        skipped+=("firefox-esr (nothing sent)")
    fi
else
    skipped+=("firefox-esr (not installed)")
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
