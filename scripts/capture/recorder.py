#!/usr/bin/env python3
"""Loopback recorder: accept one TCP connection (or one UDP datagram, or one flight of UDP
datagrams) on 127.0.0.1 and write the first bytes the client sends to a file, then exit.

TCP: bytes are read until the client stops sending for --idle seconds (a TLS client waits for
the ServerHello, an HTTP client for the response), the peer closes, or --max bytes arrived.
Nothing is ever sent back, so the client never gets past its first flight.

udp-flight: datagrams are read until the client is quiet for --idle seconds (a QUIC client sends
its Initial datagrams back to back, then waits), and written to OUT-1.bin, OUT-2.bin, ...

Usage: recorder.py tcp|udp|udp-flight PORTFILE OUT [--idle S] [--timeout S]
The chosen port is written to PORTFILE once listening (port 0 = let the kernel choose).
"""
import os
import socket
import sys
import time


def main():
    proto, portfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
    idle = 1.0
    timeout = 30.0
    args = sys.argv[4:]
    while args:
        flag, value = args[0], float(args[1])
        args = args[2:]
        if flag == "--idle":
            idle = value
        elif flag == "--timeout":
            timeout = value
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    if proto == "tcp":
        sock.listen(4)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    # Rename so the reader never sees a half-written port.
    os.rename(portfile + ".tmp", portfile)
    if proto == "udp-flight":
        flight = [sock.recvfrom(65535)[0]]
        sock.settimeout(idle)
        while len(flight) < 64:
            try:
                flight.append(sock.recvfrom(65535)[0])
            except socket.timeout:
                break
        sock.close()
        for k, d in enumerate(flight, 1):
            with open("%s-%d.bin" % (out, k), "wb") as f:
                f.write(d)
        return
    if proto == "udp":
        data, _ = sock.recvfrom(65535)
    else:
        conn, _ = sock.accept()
        conn.settimeout(idle)
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if sum(len(c) for c in chunks) > 1 << 20:
                break
        data = b"".join(chunks)
        conn.close()
    sock.close()
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
