"""HTTP/3 on loopback for the e2e suites, with aioquic (PyPI), or qh3 (its fork, PyPI) when
H3_LIB=qh3.

    h3.py server PORT CERT KEY    serve "hello over h3 from AUTHORITY" on 127.0.0.1:PORT
    h3.py get PORT NAME [SECONDS] GET https://NAME/ through 127.0.0.1:PORT (SNI and :authority
                                  NAME, certificate not checked); print the body, or
                                  "failed: WHY" when no answer came within SECONDS (default 4)
"""
import asyncio
import importlib
import os
import ssl
import sys

_lib = os.environ.get("H3_LIB", "aioquic")
_asyncio = importlib.import_module(_lib + ".asyncio")
connect, serve = _asyncio.connect, _asyncio.serve
QuicConnectionProtocol = importlib.import_module(_lib + ".asyncio.protocol").QuicConnectionProtocol
_h3 = importlib.import_module(_lib + ".h3.connection")
H3_ALPN, H3Connection = _h3.H3_ALPN, _h3.H3Connection
_events = importlib.import_module(_lib + ".h3.events")
DataReceived, HeadersReceived = _events.DataReceived, _events.HeadersReceived
QuicConfiguration = importlib.import_module(_lib + ".quic.configuration").QuicConfiguration
ProtocolNegotiated = importlib.import_module(_lib + ".quic.events").ProtocolNegotiated


class Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic)
        if self.h3 is None:
            return
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived):
                authority = dict(e.headers).get(b":authority", b"").decode()
                body = ("hello over h3 from %s" % authority).encode()
                self.h3.send_headers(
                    e.stream_id, [(b":status", b"200"), (b"content-length", str(len(body)).encode())]
                )
                self.h3.send_data(e.stream_id, body, end_stream=True)
                self.transmit()


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.body = b""
        self.done = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        for e in self.h3.handle_event(event):
            if isinstance(e, DataReceived):
                self.body += e.data
                if e.stream_ended and not self.done.done():
                    self.done.set_result(self.body)


async def get(port, name):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    cfg.verify_mode = ssl.CERT_NONE
    async with connect("127.0.0.1", port, configuration=cfg, create_protocol=Client) as c:
        stream = c._quic.get_next_available_stream_id()
        c.h3.send_headers(
            stream,
            [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", name.encode()), (b":path", b"/")],
            end_stream=True,
        )
        c.transmit()
        return await c.done


async def server(port, cert, key):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    cfg.load_cert_chain(cert, key)
    await serve("127.0.0.1", port, configuration=cfg, create_protocol=Server)
    await asyncio.Future()


def main():
    if sys.argv[1] == "server":
        asyncio.run(server(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    port, name = int(sys.argv[2]), sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 4.0
    try:
        body = asyncio.run(asyncio.wait_for(get(port, name), seconds))
        print(body.decode())
    except Exception as e:  # a denied flow: no handshake, the wait times out
        print("failed: %s" % (type(e).__name__ or "error"))


if __name__ == "__main__":
    main()
