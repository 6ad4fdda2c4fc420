"""The participant's WebSocket: ``/redwood/app-name/<app>/group/<pk>/participant/<code>/``.

The consumer is async end to end.  It validates each frame, answers pings,
and hands every valid message to the process's pipeline (engine/runtime.py), which
stores it and runs the group's handler.  What the server sends to the socket
goes through a per-socket outbox drained by its own task, so one slow client
never holds up the others; when an outbox backs up, superseded
``group_decisions`` maps are dropped (each one replaces the last), and a
socket that still cannot keep up is closed so that it reconnects and resyncs.
"""
import asyncio
import collections
import logging
import uuid
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from . import browser_binding, dbthreads, groups
from .engine import conf, lifecycle, protocol, runtime

logger = logging.getLogger(__name__)

#: Round trips above this (10 minutes) are not shown on the monitor.
MAX_RTT_MS = 600000

#: A ``seq`` beyond this cannot be one the server sent (a 64-bit column).
MAX_SEQ = 2 ** 63 - 1


def parse_seq(raw):
    """The ``?seq=`` a client resumes from, or None for "no seq".

    Whatever cannot be a seq the server sent (garbage, negative, beyond 64
    bits) means a plain resync, never an error: the page still gets the
    latest state and map.
    """
    if raw is None or not (0 < len(raw) <= 20) or not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if value <= MAX_SEQ else None


# The handshake's database work, beside the pipeline (dbthreads.handshake_sync),
# done for all the sockets that connected meanwhile at once: a lab starting
# costs a few queries per batch of sockets, not a few per socket.
_authorize = dbthreads.handshake_batch(groups.authorize_many)
_connect = dbthreads.handshake_batch(lifecycle.connect_many)
_ready = dbthreads.handshake_batch(lifecycle.ready_many)

# a socket with this many messages waiting in the pipeline stops being read
# (TCP pushes back on that client) until the pipeline catches up
MAX_PENDING_PER_SOCKET = 200


class RedwoodConsumer(AsyncWebsocketConsumer):
    """One participant's socket in one group."""

    # no channel layer: group delivery goes through the Redis bus (engine/runtime.py)
    channel_layer_alias = "__otree_redwood_no_layer__"

    info = None
    participant_code = None
    participant_id = None
    rtt_ms = None

    async def websocket_connect(self, message):
        kwargs = self.scope["url_route"]["kwargs"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [None])[0]
        last_seq = (query.get("seq") or [None])[0]
        self.socket_id = uuid.uuid4().hex
        self.outbox = collections.deque()
        self.out_ready = asyncio.Event()
        self.pending = 0
        self.submitted = 0  # messages handed to the pipeline
        self.done = 0       # of those, processed (stored, or refused with an error)
        self.held_pongs = collections.deque()  # (submitted count when the ping came, its timestamp)
        self.unblocked = asyncio.Event()
        self.unblocked.set()
        self.closing = False
        # settings read once per socket, not once per frame
        self._coalesce_at = conf.get("OUTBOX_COALESCE_AT")
        self._outbox_limit = conf.get("OUTBOX_LIMIT")
        self._max_bytes = conf.get("MAX_MESSAGE_BYTES")
        self._reserved = protocol.server_only_channels()
        self._max_depth = conf.get("MAX_NESTING")
        self.sender_task = None
        self.attached = False
        last_seq = parse_seq(last_seq)
        self.participant_code = kwargs.get("participant_code")
        app_name, require_token = kwargs.get("app_name"), conf.get("REQUIRE_TOKEN")
        try:
            # no query, no Redis, no wait on the database thread before the
            # token is known to be good
            group_pk = groups.precheck(app_name, kwargs.get("group"), self.participant_code, token, require_token)
            self.rt = await runtime.ensure_started()
            # the group as it is now (its hooks are asked once per batch of
            # connects), looked up beside the pipeline, not behind its batches
            info, pid = await _authorize(app_name, group_pk, self.participant_code, token, require_token)
            if conf.get("BIND_PARTICIPANT_TO_BROWSER"):
                await browser_binding.check(self.scope, self.participant_code)
        except groups.Refused as refused:
            await self._refuse(refused.code, refused.reason)
            return
        except Exception:
            logger.exception("redwood connect failed")
            await self._refuse(protocol.CLOSE_SERVER_ERROR, "server error")
            return
        self.info, self.participant_id = info, pid
        await self.accept()
        self.sender_task = asyncio.get_event_loop().create_task(self._sender())
        try:
            await self.rt.attach(self)
            self.attached = True
            await self.rt.redis.hset(
                info.sockets_key, self.socket_id, "%s|%s" % (self.participant_code, self.rt.process_id)
            )
            frames = await _connect(info, pid, self.participant_code, last_seq)
            for f in frames:
                self.deliver(f)
            await _ready(info)
        except Exception:
            logger.exception("redwood connect of %s failed", self.participant_code)
            self.deliver(protocol.error_frame("server error while connecting"))

    async def _refuse(self, code, reason):
        # accept first so the client sees the close code and the reason
        await self.accept()
        await self.send(text_data=protocol.error_frame(reason, close_code=code))
        await self.close(code=code)

    async def websocket_disconnect(self, message):
        self.closing = True
        if self.sender_task is not None:
            self.sender_task.cancel()
        if self.info is not None:
            try:
                if self.attached:
                    await self.rt.detach(self)
                await self.rt.call(
                    lifecycle.disconnect_phase, self.info, self.participant_id, self.participant_code, self.socket_id
                )
            except Exception:
                logger.exception("redwood disconnect of %s failed", self.participant_code)
        await super().websocket_disconnect(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.info is None:
            return
        try:
            channel, msg = protocol.parse_inbound(text_data, self._max_bytes, self._reserved, self._max_depth)
        except protocol.ProtocolError as err:
            self.deliver(protocol.error_frame(err.reason, **err.extra))
            return
        if channel == "ping":
            self._pong(msg)
            return
        if channel in self.info.server_only:
            self.deliver(protocol.error_frame("channel '%s' is reserved for the server" % channel))
            return
        self.pending += 1
        self.submitted += 1
        self.rt.submit_inbound(self, channel, msg.get("payload"))
        if self.pending >= MAX_PENDING_PER_SOCKET:
            self.unblocked.clear()
            await self.unblocked.wait()

    def processed(self):
        self.pending -= 1
        self.done += 1
        if self.pending < MAX_PENDING_PER_SOCKET // 2:
            self.unblocked.set()
        held = self.held_pongs
        while held and held[0][0] <= self.done:
            self._send_pong(held.popleft()[1])

    def _pong(self, msg):
        # parse_inbound checked both fields: finite numbers or absent
        avg = msg.get("avg_ping_time")
        if avg is None:
            avg = msg.get("avgping_time")
        if avg is not None and 0 <= avg <= MAX_RTT_MS:
            # the monitor shows it; a figure no network can produce is not kept
            self.rtt_ms = round(float(avg), 1)
        ts = msg.get("timestamp")
        # The page takes the reply as proof that what it sent before the
        # ping is stored (socket.js stops re-sending its last decision), so
        # it waits until the pipeline has processed those messages: a reply
        # sent at once could confirm a decision that a killed server never
        # stored.
        if self.done >= self.submitted:
            self._send_pong(ts)
        else:
            self.held_pongs.append((self.submitted, ts))

    def _send_pong(self, ts):
        self.deliver('{"channel":"ping","timestamp":%s,"server_ts":%.3f}' % (protocol.dumps(ts), protocol.now_ms()))

    # ---------------- outbound ----------------
    def deliver(self, frame):
        """Queue a frame for this socket (never blocks)."""
        if self.closing:
            return
        outbox = self.outbox
        if len(outbox) >= self._coalesce_at and frame.startswith('{"channel":"group_decisions"'):
            # the newest map supersedes the queued ones
            kept = [f for f in outbox if not f.startswith('{"channel":"group_decisions"')]
            outbox.clear()
            outbox.extend(kept)
        outbox.append(frame)
        if len(outbox) > self._outbox_limit:
            logger.warning("closing socket of %s: outbox over limit", self.participant_code)
            self.closing = True
            outbox.clear()
            asyncio.get_event_loop().create_task(self.close(code=protocol.CLOSE_TOO_SLOW))
            return
        self.out_ready.set()

    async def _sender(self):
        outbox = self.outbox
        try:
            while True:
                if not outbox:
                    self.out_ready.clear()
                    await self.out_ready.wait()
                    continue
                frame = outbox.popleft()
                await self.send(text_data=frame)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.debug("sender of %s stopped", self.participant_code, exc_info=True)
