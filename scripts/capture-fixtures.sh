#!/usr/bin/env bash
# Captures the first bytes real clients send, on loopback only, as parser fixtures.
#
# Each fixture is NAME.bin (raw bytes) + NAME.expect (key=value). The expected values are written
# here from what each client was told to send (its -servername, Host, question...), never from
# hostgate's own output. Clients that are not installed are skipped with a note.
#
# Debian packages used: openssl curl gnutls-bin golang-go chromium dnsutils python3.
# Usage: scripts/capture-fixtures.sh [OUTDIR]   (default crates/hostgate/tests/fixtures)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/crates/hostgate/tests/fixtures}
REC=$ROOT/scripts/capture/recorder.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
captured=()
skipped=()

have() { command -v "$1" >/dev/null 2>&1; }

# capture NAME tcp|udp IDLE 'client command using $PORT' key=value...
capture() {
    local name=$1 proto=$2 idle=$3 cmd=$4
    shift 4
    local portfile=$WORK/$name.port bin=$WORK/$name.bin
    rm -f "$portfile" "$bin"
    python3 "$REC" "$proto" "$portfile" "$bin" --idle "$idle" --timeout 20 &
    local rec=$!
    for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.05; done
    if [ ! -s "$portfile" ]; then
        echo "!! $name: recorder did not start" >&2
        kill "$rec" 2>/dev/null
        return
    fi
    PORT=$(cat "$portfile")
    export PORT
    # The client is stopped as soon as the recorder has its bytes.
    (eval "$cmd") >"$WORK/$name.log" 2>&1 &
    local client=$!
    wait "$rec"
    kill "$client" 2>/dev/null
    pkill -P "$client" 2>/dev/null
    wait "$client" 2>/dev/null
    if [ ! -s "$bin" ]; then
        echo "!! $name: no bytes captured (see the client's output below)" >&2
        tail -n 5 "$WORK/$name.log" >&2
        skipped+=("$name")
        return
    fi
    cp "$bin" "$OUT/$name.bin"
    {
        echo "# captured by scripts/capture-fixtures.sh; expected values are what the client was told to send"
        echo "client=$(echo "$cmd" | sed "s/$PORT/PORT/g")"
        for kv in "$@"; do [ "$kv" = port=PORT ] && kv=port=$PORT; echo "$kv"; done
    } >"$OUT/$name.expect"
    captured+=("$name ($(wc -c <"$bin") bytes)")
}

# --- TLS ClientHellos ---------------------------------------------------------------------
if have openssl; then
    S="openssl s_client -connect 127.0.0.1:\$PORT"
    capture tls-openssl-plain tcp 1 "$S -servername example.com </dev/null" \
        protocol=tls status=complete name=example.com kind=name via=tls alpn= ech=false
    capture tls-openssl-alpn tcp 1 "$S -servername api.example.org -alpn h2,http/1.1 </dev/null" \
        protocol=tls status=complete name=api.example.org kind=name via=tls alpn=h2,http/1.1 ech=false
    capture tls-openssl-tls12 tcp 1 "$S -servername Mixed.Example.NET -tls1_2 </dev/null" \
        protocol=tls status=complete name=mixed.example.net kind=name via=tls alpn= ech=false
    capture tls-openssl-noservername tcp 1 "$S -noservername </dev/null" \
        protocol=tls status=no-name via=tls alpn= ech=false
    capture tls-openssl-ip tcp 1 "$S -servername 192.0.2.1 </dev/null" \
        protocol=tls status=complete name=192.0.2.1 kind=ip via=tls alpn= ech=false
    # A long ALPN list makes the hello larger than 512 bytes, so -max_send_frag 512 splits it
    # over several records (the reassembly case).
    LONG_ALPN=$(for i in $(seq -w 1 12); do printf 'x-very-long-application-protocol-name-number-%s,' "$i"; done)
    LONG_ALPN=${LONG_ALPN%,}
    capture tls-openssl-fragmented tcp 1 "$S -servername fragmented.example.com -max_send_frag 512 -alpn $LONG_ALPN </dev/null" \
        protocol=tls status=complete name=fragmented.example.com kind=name via=tls "alpn=$LONG_ALPN" ech=false records=many
else
    skipped+=("openssl (not installed)")
fi

if have curl; then
    capture tls-curl tcp 1 "curl -sk --max-time 5 --http1.1 --resolve curl.example.com:\$PORT:127.0.0.1 https://curl.example.com:\$PORT/" \
        protocol=tls status=complete name=curl.example.com kind=name via=tls alpn=http/1.1 ech=false
else
    skipped+=("curl (not installed)")
fi

if have gnutls-cli; then
    capture tls-gnutls tcp 1 "gnutls-cli --insecure --sni-hostname=gnutls.example.com --alpn=h2 --alpn=http/1.1 -p \$PORT 127.0.0.1 </dev/null" \
        protocol=tls status=complete name=gnutls.example.com kind=name via=tls alpn=h2,http/1.1 ech=false
else
    skipped+=("gnutls-cli (apt gnutls-bin)")
fi

capture tls-python tcp 1 "python3 -c '
import socket, ssl, os
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols([\"h2\", \"http/1.1\"])
s = socket.create_connection((\"127.0.0.1\", int(os.environ[\"PORT\"])))
ctx.wrap_socket(s, server_hostname=\"Python.Example.COM\")
'" protocol=tls status=complete name=python.example.com kind=name via=tls alpn=h2,http/1.1 ech=false

if have go; then
    mkdir -p "$WORK/goclient"
    cat >"$WORK/goclient/main.go" <<'GO'
package main

import (
	"crypto/tls"
	"os"
)

func main() {
	conn, err := tls.Dial("tcp", "127.0.0.1:"+os.Getenv("PORT"), &tls.Config{
		ServerName:         "go.example.com",
		NextProtos:         []string{"h2", "http/1.1"},
		InsecureSkipVerify: true,
	})
	if err == nil {
		conn.Close()
	}
}
GO
    (cd "$WORK/goclient" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o client main.go) 2>"$WORK/go-build.log"
    if [ -x "$WORK/goclient/client" ]; then
        capture tls-go tcp 1 "$WORK/goclient/client" \
            protocol=tls status=complete name=go.example.com kind=name via=tls alpn=h2,http/1.1 ech=false
    else
        skipped+=("go (build failed: $(head -c 200 "$WORK/go-build.log"))")
    fi
else
    skipped+=("go (apt golang-go)")
fi

CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ]; then
    # Everything but example.com resolves to nothing, so the browser only talks to the recorder.
    capture tls-chromium tcp 2 "$CHROME --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir=$WORK/chrome-profile \
        --host-resolver-rules=\"MAP example.com 127.0.0.1:\$PORT, MAP * ~NOTFOUND\" \
        --dump-dom https://example.com/" \
        protocol=tls status=complete name=example.com kind=name via=tls alpn=h2,http/1.1 ech=true
else
    skipped+=("chromium (apt chromium)")
fi

# --- HTTP/1.x request heads ---------------------------------------------------------------
if have curl; then
    capture http-curl-origin tcp 1 "curl -s --max-time 5 --resolve www.example.com:\$PORT:127.0.0.1 http://www.example.com:\$PORT/index.html" \
        protocol=http status=complete name=www.example.com kind=name via=http port=PORT
    capture http-curl-absolute tcp 1 "curl -s --max-time 5 -x http://127.0.0.1:\$PORT http://proxied.example.com/a?b=c" \
        protocol=http status=complete name=proxied.example.com kind=name via=http port=80
    capture http-curl-connect tcp 1 "curl -s --max-time 5 -x http://127.0.0.1:\$PORT https://tunnel.example.com/" \
        protocol=http status=complete name=tunnel.example.com kind=name via=connect port=443
fi
capture http-python tcp 1 "python3 -c '
import http.client, os
c = http.client.HTTPConnection(\"127.0.0.1\", int(os.environ[\"PORT\"]), timeout=5)
c.request(\"GET\", \"/status\", headers={\"Host\": \"Api.Example.ORG\"})
c.getresponse()
'" protocol=http status=complete name=api.example.org kind=name via=http port=

# --- DNS questions ------------------------------------------------------------------------
if have dig; then
    D="dig @127.0.0.1 -p \$PORT +tries=1 +time=2"
    capture dns-dig-udp-a udp 1 "$D www.example.com A" \
        protocol=dns transport=udp status=complete name=www.example.com kind=name via=dns qtype=1
    capture dns-dig-udp-srv udp 1 "$D _sip._tcp.Example.NET SRV" \
        protocol=dns transport=udp status=complete name=_sip._tcp.example.net kind=name via=dns qtype=33
    capture dns-dig-udp-root udp 1 "$D . NS" \
        protocol=dns transport=udp status=no-name via=dns qtype=2
    capture dns-dig-tcp-aaaa tcp 1 "$D +tcp example.org AAAA" \
        protocol=dns transport=tcp status=complete name=example.org kind=name via=dns qtype=28
else
    skipped+=("dig (apt dnsutils)")
fi

echo "captured into $OUT:"
for c in "${captured[@]}"; do echo "  $c"; done
if [ ${#skipped[@]} -gt 0 ]; then
    echo "skipped:"
    for s in "${skipped[@]}"; do echo "  $s"; done
fi
