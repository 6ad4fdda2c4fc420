"""The participant's WebSocket on oTree 6, at the oTree 3 address:
``/redwood/app-name/<app>/group/<pk>/participant/<code>/?token=..&seq=..``.

The same wire as the oTree 3 consumer (otree_redwood/consumers.py): strict
parsing of every frame (engine.protocol), pings answered once what came
before them is processed, a per-socket outbox drained by its own task (a
slow client never holds up the others; superseded ``group_decisions`` maps
are dropped when it backs up, and a socket that still cannot keep up is
closed with 4008), and the same close codes: a refused socket is accepted
first, sent an ``error`` frame with the reason and closed with 4000 (bad
URL), 4003 (token or membership) or 4004 (no such app or group), because a
socket closed before ``accept()`` reaches the browser as a bare HTTP 403.

The engine's Runtime runs in uvicorn's event loop: started by oTree's
start-up (attach.on_startup) and, where there is no lifespan (``otree
test``), by the first socket.  The handshake's database work (authorize,
connect, ready check) goes through the host's ``db_sync`` like the
pipeline's, so it takes oTree's lock2 like every other database user.

Starlette 0.14 facts used: ``WebSocketRoute(path, endpoint_function)``,
``WebSocket.accept/receive/send_text/close``, ``path_params``,
``query_params``.
"""
import asyncio
import collections
import logging
import uuid

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ..engine import conf, errors, lifecycle, protocol, runtime
from ..engine.groupinfo import group_key
from . import attach, host as host6
from .token import check_token

logger = logging.getLogger(__name__)

#: Round trips above this (10 minutes) are not shown on the monitor.
MAX_RTT_MS = 600000
#: A ``seq`` beyond this cannot be one the server sent (a 64-bit column).
MAX_SEQ = 2 ** 63 - 1
#: With this many messages of one socket waiting in the pipeline, the socket
#: is not read (TCP pushes back on that client) until the pipeline catches up.
MAX_PENDING_PER_SOCKET = 200

#: The route, in Starlette's syntax, of engine.protocol.SOCKET_PATH / SOCKET_ROUTE.
PATH = "/redwood/app-name/{app_name}/group/{group}/participant/{participant_code}/"


def parse_seq(raw):
    """The ``?seq=`` a client resumes from; anything else means a plain resync (None)."""
    if raw is None or not (0 < len(raw) <= 20) or not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if value <= MAX_SEQ else None


def precheck(app_name, group_pk, participant_code, token, require_token):
    """What is refused without the database or Redis; returns the group pk (an int)."""
    try:
        group_pk = int(group_pk)
    except (TypeError, ValueError):
        raise errors.Refused(protocol.CLOSE_BAD_URL, "group must be a number")
    if host6.group_model(app_name) is None:
        raise errors.Refused(protocol.CLOSE_NOT_FOUND, "unknown app '%s' (or not a redwood app)" % app_name)
    if require_token and not check_token(token, participant_code, app_name, group_pk):
        raise errors.Refused(protocol.CLOSE_FORBIDDEN, "missing or invalid token; open the page through oTree")
    return group_pk


def authorize_sync(app_name, group_pk, participant_code):
    """(GroupInfo as it is now, participant id); Refused if not a member (db_sync)."""
    gk = group_key(app_name, group_pk)
    infos = {info.gk: info for info in host6.HOST.build_infos([gk], siblings=False)}
    info = infos.get(gk)
    if info is None:
        raise errors.Refused(protocol.CLOSE_NOT_FOUND, "no group %s in app '%s'" % (group_pk, app_name))
    member = info.members.get(participant_code)
    if member is None:
        raise errors.Refused(protocol.CLOSE_FORBIDDEN, "participant is not a member of this group")
    return info, member[0]


def _ready_sync(info):
    ok, value = lifecycle.ready_many([(info,)])[0]
    if not ok:
        raise value
    return value


async def start_runtime():
    await runtime.ensure_started()


async def stop_runtime():
    rt = runtime._runtimes.get(asyncio.get_event_loop())
    if rt is not None:
        await rt.stop()


class Socket:
    """One participant's socket in one group (what the Runtime's bus and pipeline use)."""

    def __init__(self, ws):
        self.ws = ws
        self.info = None
        self.participant_code = None
        self.participant_id = None
        self.rtt_ms = None
        self.socket_id = uuid.uuid4().hex
        self.outbox = collections.deque()
        self.out_ready = asyncio.Event()
        self.pending = 0
        self.submitted = 0
        self.done = 0
        self.held_pongs = collections.deque()
        self.unblocked = asyncio.Event()
        self.unblocked.set()
        self.closing = False
        self.sender_task = None
        self.attached = False
        self.rt = None
        self._coalesce_at = conf.get("OUTBOX_COALESCE_AT")
        self._outbox_limit = conf.get("OUTBOX_LIMIT")
        self._max_bytes = conf.get("MAX_MESSAGE_BYTES")
        self._reserved = protocol.server_only_channels()
        self._max_depth = conf.get("MAX_NESTING")

    # ---- the connection's life

    async def run(self):
        ws = self.ws
        params = ws.path_params
        token = ws.query_params.get("token")
        last_seq = parse_seq(ws.query_params.get("seq"))
        self.participant_code = params.get("participant_code")
        app_name = params.get("app_name")
        try:
            group_pk = precheck(app_name, params.get("group"), self.participant_code, token,
                                conf.get("REQUIRE_TOKEN"))
            await attach.ensure_started()
            self.rt = await runtime.ensure_started()
            info, pid = await host6.HOST.db_sync(authorize_sync)(app_name, group_pk, self.participant_code)
        except errors.Refused as refused:
            await self._refuse(refused.code, refused.reason)
            return
        except Exception:
            logger.exception("redwood connect failed")
            await self._refuse(protocol.CLOSE_SERVER_ERROR, "server error")
            return
        self.info, self.participant_id = info, pid
        await ws.accept()
        self.sender_task = asyncio.get_event_loop().create_task(self._sender())
        try:
            try:
                await self.rt.attach(self)
                self.attached = True
                await self.rt.redis.hset(info.sockets_key, self.socket_id,
                                         "%s|%s" % (self.participant_code, self.rt.process_id))
                frames = await host6.HOST.db_sync(lifecycle.connect_phase)(info, pid, self.participant_code,
                                                                           last_seq)
                for f in frames:
                    self.deliver(f)
                await host6.HOST.db_sync(_ready_sync)(info)
            except Exception:
                logger.exception("redwood connect of %s failed", self.participant_code)
                self.deliver(protocol.error_frame("server error while connecting"))
            await self._receive_loop()
        finally:
            await self._disconnected()

    async def _refuse(self, code, reason):
        # accept first so that the client sees the close code and the reason
        ws = self.ws
        try:
            await ws.accept()
            await ws.send_text(protocol.error_frame(reason, close_code=code))
            await ws.close(code=code)
        except Exception:
            logger.debug("refusing a socket failed", exc_info=True)

    async def _receive_loop(self):
        while True:
            message = await self.ws.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            await self.receive(message.get("text"))

    async def _disconnected(self):
        self.closing = True
        if self.sender_task is not None:
            self.sender_task.cancel()
        if self.info is None:
            return
        try:
            if self.attached:
                await self.rt.detach(self)
            await self.rt.call(lifecycle.disconnect_phase, self.info, self.participant_id,
                               self.participant_code, self.socket_id)
        except Exception:
            logger.exception("redwood disconnect of %s failed", self.participant_code)

    # ---- inbound

    async def receive(self, text):
        try:
            channel, msg = protocol.parse_inbound(text, self._max_bytes, self._reserved, self._max_depth)
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
        avg = msg.get("avg_ping_time")
        if avg is None:
            avg = msg.get("avgping_time")
        if avg is not None and 0 <= avg <= MAX_RTT_MS:
            self.rtt_ms = round(float(avg), 1)
        ts = msg.get("timestamp")
        # the page takes the reply as proof that what it sent before the ping
        # is stored: it waits until the pipeline has processed those messages
        if self.done >= self.submitted:
            self._send_pong(ts)
        else:
            self.held_pongs.append((self.submitted, ts))

    def _send_pong(self, ts):
        self.deliver('{"channel":"ping","timestamp":%s,"server_ts":%.3f}' % (protocol.dumps(ts), protocol.now_ms()))

    # ---- outbound

    def deliver(self, frame):
        """Queue a frame for this socket (never blocks)."""
        if self.closing:
            return
        outbox = self.outbox
        if len(outbox) >= self._coalesce_at and frame.startswith('{"channel":"group_decisions"'):
            kept = [f for f in outbox if not f.startswith('{"channel":"group_decisions"')]
            outbox.clear()
            outbox.extend(kept)
        outbox.append(frame)
        if len(outbox) > self._outbox_limit:
            logger.warning("closing socket of %s: outbox over limit", self.participant_code)
            self.closing = True
            outbox.clear()
            asyncio.get_event_loop().create_task(self._close(protocol.CLOSE_TOO_SLOW))
            return
        self.out_ready.set()

    async def _close(self, code):
        try:
            await self.ws.close(code=code)
        except Exception:
            logger.debug("closing the socket of %s failed", self.participant_code, exc_info=True)

    async def _sender(self):
        outbox = self.outbox
        try:
            while True:
                if not outbox:
                    self.out_ready.clear()
                    await self.out_ready.wait()
                    continue
                await self.ws.send_text(outbox.popleft())
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.debug("sender of %s stopped", self.participant_code, exc_info=True)


async def participant_socket(websocket: WebSocket):
    await Socket(websocket).run()


ROUTE = WebSocketRoute(PATH, participant_socket)

# once per process (a module body runs once)
attach.add_routes(ROUTE)
attach.on_startup(start_runtime)
attach.on_shutdown(stop_runtime)
