"""The participant's WebSocket on oTree 3: ``/redwood/app-name/<app>/group/<pk>/participant/<code>/``.

A thin Channels adapter over engine.socket.ParticipantSocket, which holds the
socket's rules (handshake, strict parsing, held pongs, backpressure, the
outbox): this module gives it Channels' send/accept/close, oTree 3's
handshake steps and the browser binding, and feeds it the frames.
"""
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from . import browser_binding, dbthreads, groups
from .engine.handshakes import Handshakes
from .engine.socket import ParticipantSocket


def _handshake_executor(fn):
    # in autocommit: on SQLite a transaction takes the write lock at BEGIN,
    # and one held across a handshake's reads and Redis calls would hold up
    # the pipeline's commits (dbthreads.handshake_sync)
    return dbthreads.handshake_sync(fn, atomic=False)


# The handshake's database work runs beside the pipeline, on the handshake
# thread, for all the sockets that connected meanwhile at once.
HANDSHAKES = Handshakes(groups.precheck, groups.authorize_many, _handshake_executor)


class RedwoodConsumer(AsyncWebsocketConsumer):
    """One participant's socket in one group."""

    # no channel layer: group delivery goes through the Redis bus (engine/bus.py)
    channel_layer_alias = "__otree_redwood_no_layer__"

    sock = None

    async def websocket_connect(self, message):
        kwargs = self.scope["url_route"]["kwargs"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.sock = ParticipantSocket(self.send, self.accept, self.close, HANDSHAKES, self._check_browser)
        await self.sock.open(kwargs.get("app_name"), kwargs.get("group"), kwargs.get("participant_code"),
                             (query.get("token") or [None])[0], (query.get("seq") or [None])[0])

    def _check_browser(self, participant_code):
        return browser_binding.check(self.scope, participant_code)

    async def receive(self, text_data=None, bytes_data=None):
        if self.sock is not None:
            await self.sock.receive(text_data)

    async def websocket_disconnect(self, message):
        if self.sock is not None:
            await self.sock.closed()
        await super().websocket_disconnect(message)
