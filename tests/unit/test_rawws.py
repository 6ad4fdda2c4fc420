"""benchmarks/rawws.py, the load generators' minimal WebSocket client, against
wsproto (hypercorn's WebSocket implementation) as the server."""
import asyncio

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage

from benchmarks import rawws


async def serve_once(script, seen):
    """A server for one connection: accepts, runs ``script(send)``, records what the client sends."""
    done = asyncio.get_event_loop().create_future()

    async def handle(reader, writer):
        ws = WSConnection(ConnectionType.SERVER)

        def send(event):
            writer.write(ws.send(event))

        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                ws.receive_data(data)
                for event in ws.events():
                    seen.append(event)
                    if isinstance(event, Request):
                        seen.append(event.target)
                        send(AcceptConnection())
                        script(send)
                    elif isinstance(event, CloseConnection):
                        send(event.response())
                        writer.close()
                        return
        finally:
            if not done.done():
                done.set_result(True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], done


async def test_texts_fragments_pings_and_the_close_go_as_the_protocol_says():
    big = "x" * 70000  # a 64-bit length

    def script(send):
        send(TextMessage(data="hello"))
        send(Ping(payload=b"p1"))
        send(TextMessage(data="frag-", message_finished=False))
        send(TextMessage(data="ment", message_finished=True))
        send(TextMessage(data=big))
        send(TextMessage(data="é" * 100))  # a 16-bit length, UTF-8

    seen = []
    server, port, done = await serve_once(script, seen)
    async with server:
        ws = await rawws.connect("ws://127.0.0.1:%d/path/x?token=a%%20b" % port)
        assert await ws.recv() == "hello"
        assert await ws.recv() == "frag-ment"
        assert await ws.recv() == big
        assert await ws.recv() == "é" * 100
        ws.send("from the client " * 10)
        await ws.close(1000)
        await asyncio.wait_for(done, 5)
    assert "/path/x?token=a%20b" in seen
    assert any(isinstance(e, Pong) and e.payload == b"p1" for e in seen)
    texts = [e.data for e in seen if isinstance(e, TextMessage)]
    assert texts == ["from the client " * 10]
    assert [e.code for e in seen if isinstance(e, CloseConnection)] == [1000]


async def test_a_close_from_the_server_is_raised_with_its_code():
    def script(send):
        send(CloseConnection(code=4003, reason="no"))

    server, port, _ = await serve_once(script, [])
    async with server:
        ws = await rawws.connect("ws://127.0.0.1:%d/" % port)
        with pytest.raises(rawws.Closed) as info:
            await ws.recv()
        assert info.value.code == 4003
        ws.writer.close()


async def test_a_refused_upgrade_is_a_handshake_failure():
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(rawws.HandshakeFailed, match="403"):
            await rawws.connect("ws://127.0.0.1:%d/" % port)
