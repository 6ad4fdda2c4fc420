"""Start the runtime when the ASGI server starts (lifespan protocol).

oTree 3.4 answers the lifespan messages of its hypercorn with
``otree.channels.consumers.LifespanApp``; we wrap it so that
``lifespan.startup`` also starts this process's runtime (bus, pipeline,
scheduler) and ``lifespan.shutdown`` stops it.
"""
import logging

logger = logging.getLogger(__name__)


def enable_tcp_nodelay():
    """Send small WebSocket frames at once (no Nagle delay).

    asyncio 3.8 sets TCP_NODELAY only on sockets created with proto
    IPPROTO_TCP; oTree's hypercorn listens on a socket made with proto 0, so
    every accepted connection kept Nagle's algorithm, and a frame written
    right after another waited for the client's delayed ACK (~40 ms).  The
    benchmarks measured p99 44 ms -> 10 ms at 400 decisions/s with this.
    """
    import asyncio.base_events as base_events
    import socket

    if getattr(base_events._set_nodelay, "_redwood", False):
        return

    def _set_nodelay(sock):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    _set_nodelay._redwood = True
    base_events._set_nodelay = _set_nodelay


def ctrl_c_stops_the_server():
    """Ctrl+C (SIGINT) stops the server at once, wherever the event loop is.

    Python raises KeyboardInterrupt in whatever code the main thread runs
    when the signal comes.  In oTree 3's hypercorn that was, now and then, a
    connection closing: the exception waited in that connection's
    ``finally`` for a close that never completed, and the server went on
    serving (``tests/test_demo_script.py`` saw it in about half of its
    runs; a second Ctrl+C was lost the same way at times).  Handled by the
    loop instead, the interrupt is raised from a callback of its own and
    ends ``run_until_complete`` as a Ctrl+C at an idle moment does.  Only
    where nobody has a handler of their own (oTree's devserver saves its
    database first, uvicorn shuts down gracefully).  Returns whether it was
    installed.
    """
    import asyncio
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False

    def _interrupt():
        raise KeyboardInterrupt

    try:
        asyncio.get_event_loop().add_signal_handler(signal.SIGINT, _interrupt)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        return False
    return True


class _ParticipantSocketsFirst:
    """oTree's websocket application, with participant sockets of ours taken out first.

    oTree wraps every websocket route in Channels' AuthMiddlewareStack, which
    loads the Django session and user of each socket on a thread before the
    consumer runs: a database hop per handshake, and one at a time when a lab
    of 1,000 connects at once.  A participant socket needs neither (its token
    is the credential; BIND_PARTICIPANT_TO_BROWSER reads only a cookie), so
    its path goes through the cookie parser and our router alone.  Every
    other path (our admin sockets too) keeps oTree's stack.
    """

    _redwood = True

    def __init__(self, ours, original):
        self.ours = ours
        self.original = original

    def __call__(self, scope):
        try:
            return self.ours(scope)
        except ValueError:  # Channels' URLRouter: "No route found"
            return self.original(scope)


def route_participant_sockets_first():
    """Put _ParticipantSocketsFirst in front of oTree's websocket stack (once the router exists)."""
    from channels.routing import URLRouter
    from channels.sessions import CookieMiddleware
    from django.conf.urls import url
    from otree.channels import routing as otree_routing

    from . import consumers
    from .engine import protocol

    app = getattr(otree_routing, "application", None)
    mapping = getattr(app, "application_mapping", None)
    if not isinstance(mapping, dict) or "websocket" not in mapping:
        logger.warning("otree-redwood: oTree's websocket router has an unknown shape; sockets keep its stack")
        return False
    if getattr(mapping["websocket"], "_redwood", False):
        return True
    ours = CookieMiddleware(URLRouter([url(protocol.SOCKET_ROUTE, consumers.RedwoodConsumer)]))
    mapping["websocket"] = _ParticipantSocketsFirst(ours, mapping["websocket"])
    return True


def install():
    enable_tcp_nodelay()
    from otree.channels import consumers as otree_consumers

    original = otree_consumers.LifespanApp
    if getattr(original, "_redwood_wrapped", False):
        return

    class RedwoodLifespanApp:
        _redwood_wrapped = True

        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            from .engine import runtime

            async def wrapped_receive():
                message = await receive()
                kind = message.get("type")
                if kind == "lifespan.startup":
                    ctrl_c_stops_the_server()
                    try:
                        route_participant_sockets_first()
                    except Exception:
                        logger.exception("otree-redwood: participant sockets keep oTree's middleware")
                    try:
                        await runtime.ensure_started()
                    except Exception:
                        logger.exception("otree-redwood runtime did not start; it starts with the first socket")
                elif kind == "lifespan.shutdown":
                    try:
                        await runtime.get_runtime().stop()
                    except Exception:
                        logger.debug("runtime stop failed", exc_info=True)
                return message

            await original(self.scope)(wrapped_receive, send)

    otree_consumers.LifespanApp = RedwoodLifespanApp
