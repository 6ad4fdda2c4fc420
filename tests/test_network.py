"""The server sends small frames without Nagle's delay."""
import socket


def test_accepted_websocket_connections_have_tcp_nodelay():
    """A hypercorn socket made with proto 0 gets TCP_NODELAY once the extension loads."""
    import asyncio
    import asyncio.base_events as base_events

    import otree_redwood.otree_extensions.routing  # noqa: F401  (installs the fix)

    async def check():
        accepted = asyncio.get_event_loop().create_future()

        async def on_client(reader, writer):
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as hypercorn
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        srv = await asyncio.start_server(on_client, sock=listener)
        port = listener.getsockname()[1]
        _, w = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(accepted, 5)
        w.close()
        srv.close()
        return value

    assert getattr(base_events._set_nodelay, "_redwood", False)
    assert asyncio.get_event_loop_policy().new_event_loop().run_until_complete(check()) != 0
