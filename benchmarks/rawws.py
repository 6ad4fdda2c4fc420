"""A minimal WebSocket client (RFC 6455) on asyncio streams, for load generators.

A lab's browsers run on their own machines; a benchmark's clients share the
server's.  The ``websockets`` library costs about a millisecond of CPU per
connection (its handshake, its framing, its keepalive tasks), which on a
2-core machine is taken from the server being measured.  This client does
the least the protocol asks for: one upgrade request, the
``Sec-WebSocket-Accept`` check, unmasked server frames read (fragments
joined, pings answered), masked client frames written.  No extensions, no
TLS.  ``handshake_flood.py --client raw`` uses it.
"""
import asyncio
import base64
import hashlib
import os
import struct
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeFailed(Exception):
    pass


class Closed(Exception):
    """The server closed the connection (``code``: its close code, or None)."""

    def __init__(self, code=None):
        super().__init__(code)
        self.code = code


def _mask(data, key):
    if not data:
        return data
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def client_frame(opcode, payload):
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + _mask(payload, key)


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


class Connection:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    async def recv(self):
        """The next text or binary message (str or bytes); raises Closed."""
        parts, first_op = [], None
        while True:
            try:
                b0, b1 = await self.reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                raise Closed(None)
            fin, op, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            key = await self.reader.readexactly(4) if b1 & 0x80 else None
            data = await self.reader.readexactly(n) if n else b""
            if key is not None:
                data = _mask(data, key)
            if op == OP_PING:
                self.writer.write(client_frame(OP_PONG, data))
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                raise Closed(code)
            if op != OP_CONT:
                first_op = op
            parts.append(data)
            if fin:
                payload = b"".join(parts)
                return payload.decode("utf-8") if first_op == OP_TEXT else payload

    def send(self, text):
        self.writer.write(client_frame(OP_TEXT, text.encode("utf-8")))

    async def close(self, code=1000):
        try:
            self.writer.write(client_frame(OP_CLOSE, struct.pack("!H", code)))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()


async def connect(url):
    """Open ``ws://host:port/path?query``; the Connection once the server said 101."""
    u = urlsplit(url)
    if u.scheme != "ws":
        raise ValueError("only ws:// URLs: %r" % url)
    port = u.port or 80
    reader, writer = await asyncio.open_connection(u.hostname, port)
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    target = u.path + ("?" + u.query if u.query else "")
    writer.write((
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (target, u.hostname, port, key)
    ).encode("ascii"))
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        writer.close()
        raise HandshakeFailed("no upgrade response: %r" % (exc,))
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if len(status) < 2 or status[1] != "101" or headers.get("sec-websocket-accept") != accept_value(key):
        writer.close()
        raise HandshakeFailed(lines[0])
    return Connection(reader, writer)
