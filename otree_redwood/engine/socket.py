"""One participant's socket, whatever server runs it (oTree 3's Channels, oTree 6's Starlette).

The host adapter (otree_redwood/consumers.py, otree_redwood/otree6/endpoint.py)
only moves bytes: it gives a ParticipantSocket three async callables --
``send(text)``, ``accept()``, ``close(code)`` -- and its handshake steps
(engine.handshakes.Handshakes), then calls ``open()`` once, ``receive()``
per frame and ``closed()`` at the end.  The rules of the wire live here,
once for both hosts:

* the handshake: precheck (no database, no Redis), runtime started,
  authorize (batched), the optional browser binding; then accept, attach to
  the group's bus, the first frames (replay, latest state, map), the ready
  check.  A refused socket is accepted first and sent an ``error`` frame
  with the reason before it is closed with the 4xxx code, because a socket
  closed before ``accept()`` reaches the browser as a bare HTTP 403;
* every frame parsed strictly (engine.protocol); bad ones get an ``error``
  frame, never a crash;
* pings answered only once the socket's earlier messages are processed:
  the page takes the reply as proof that they are stored;
* backpressure: with MAX_PENDING_PER_SOCKET messages waiting in the
  pipeline the socket is not read (TCP pushes back on that client) until
  half of them are done;
* a per-socket outbox drained by its own task, so one slow client never
  holds up the others; when it backs up, superseded ``group_decisions``
  maps are dropped (each replaces the last), and a socket that still cannot
  keep up is closed with 4008 so that it reconnects and resyncs.

The Runtime's bus, pipeline and heartbeat see this object: ``info``,
``participant_code``, ``participant_id``, ``socket_id``, ``rtt_ms``,
``deliver(frame)`` and ``processed()``.
"""
import asyncio
import collections
import logging
import uuid

from . import conf, errors, lifecycle, protocol

logger = logging.getLogger(__name__)

#: Round trips above this (10 minutes) are not shown on the monitor.
MAX_RTT_MS = 600000

#: A ``seq`` beyond this cannot be one the server sent (a 64-bit column).
MAX_SEQ = 2 ** 63 - 1

#: With this many messages of one socket waiting in the pipeline, the socket
#: is not read until the pipeline catches up.
MAX_PENDING_PER_SOCKET = 200

_MAP_PREFIX = '{"channel":"group_decisions"'


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


class ParticipantSocket:
    """One participant's socket in one group (see the module doc).

    ``check_browser``: an async callable ``(participant_code)`` that raises
    errors.Refused for a browser the participant is not bound to; asked only
    with ``BIND_PARTICIPANT_TO_BROWSER`` on, None where the host has none.
    """

    info = None
    participant_id = None
    rtt_ms = None
    rt = None

    def __init__(self, send, accept, close, handshakes, check_browser=None):
        self._send = send
        self._accept = accept
        self._close = close
        self._handshakes = handshakes
        self._check_browser = check_browser
        self.participant_code = None
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
        self.sender_task = None
        self.attached = False
        # settings read once per socket, not once per frame
        self._coalesce_at = conf.get("OUTBOX_COALESCE_AT")
        self._outbox_limit = conf.get("OUTBOX_LIMIT")
        self._max_bytes = conf.get("MAX_MESSAGE_BYTES")
        self._reserved = protocol.server_only_channels()
        self._max_depth = conf.get("MAX_NESTING")

    # ---------------- the connection's life ----------------

    async def open(self, app_name, group, participant_code, token, seq):
        """The handshake (see the module doc); whether the socket was accepted.

        The arguments are the URL's, as the client sent them (``seq``: the
        raw ``?seq=`` text or None).
        """
        hs = self._handshakes
        last_seq = parse_seq(seq)
        self.participant_code = participant_code
        require_token = conf.get("REQUIRE_TOKEN")
        try:
            # no query, no Redis, no wait on the database thread before the
            # token is known to be good
            group_pk = hs.precheck(app_name, group, participant_code, token, require_token)
            self.rt = await hs.start()
            # the group as it is now (its hooks are asked once per batch of
            # connects), looked up beside the pipeline, not behind its batches
            info, pid = await hs.authorize(app_name, group_pk, participant_code, token, require_token)
            if self._check_browser is not None and conf.get("BIND_PARTICIPANT_TO_BROWSER"):
                await self._check_browser(participant_code)
        except errors.Refused as refused:
            await self._refuse(refused.code, refused.reason)
            return False
        except Exception:
            logger.exception("redwood connect failed")
            await self._refuse(protocol.CLOSE_SERVER_ERROR, "server error")
            return False
        self.info, self.participant_id = info, pid
        await self._accept()
        self.sender_task = asyncio.get_event_loop().create_task(self._sender())
        rt = self.rt
        try:
            await rt.attach(self)
            self.attached = True
            # entered among the group's live sockets by the batch, first
            frames = await hs.connect(info, pid, participant_code, last_seq, (self.socket_id, rt.process_id))
            for f in frames:
                self.deliver(f)
            await hs.ready(info)
        except Exception:
            logger.exception("redwood connect of %s failed", participant_code)
            self.deliver(protocol.error_frame("server error while connecting"))
        return True

    async def _refuse(self, code, reason):
        # accept first so the client sees the close code and the reason
        try:
            await self._accept()
            await self._send(protocol.error_frame(reason, close_code=code))
            await self._close(code)
        except Exception:
            # the client left meanwhile: nothing to tell it
            logger.debug("refusing a socket failed", exc_info=True)

    async def closed(self):
        """The client is gone: leave the bus; run the group's disconnect hook if it was the member's last socket."""
        self.closing = True
        if self.sender_task is not None:
            self.sender_task.cancel()
        if self.info is None:
            return
        try:
            if self.attached:
                await self.rt.detach(self)
            await self.rt.call(
                lifecycle.disconnect_phase, self.info, self.participant_id, self.participant_code, self.socket_id
            )
        except Exception:
            logger.exception("redwood disconnect of %s failed", self.participant_code)

    # ---------------- inbound ----------------

    async def receive(self, text):
        """One frame from the client (``text``: None for a binary one)."""
        if self.info is None:
            # refused: what it sends before the close lands is ignored
            return
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
        """The pipeline is done with one of this socket's messages."""
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
        if len(outbox) >= self._coalesce_at and frame.startswith(_MAP_PREFIX):
            # the newest map supersedes the queued ones
            kept = [f for f in outbox if not f.startswith(_MAP_PREFIX)]
            outbox.clear()
            outbox.extend(kept)
        outbox.append(frame)
        if len(outbox) > self._outbox_limit:
            logger.warning("closing socket of %s: outbox over limit", self.participant_code)
            self.closing = True
            outbox.clear()
            asyncio.get_event_loop().create_task(self._close_quietly(protocol.CLOSE_TOO_SLOW))
            return
        self.out_ready.set()

    async def _close_quietly(self, code):
        try:
            await self._close(code)
        except Exception:
            logger.debug("closing the socket of %s failed", self.participant_code, exc_info=True)

    async def _sender(self):
        outbox = self.outbox
        send = self._send
        try:
            while True:
                if not outbox:
                    self.out_ready.clear()
                    await self.out_ready.wait()
                    continue
                await send(outbox.popleft())
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.debug("sender of %s stopped", self.participant_code, exc_info=True)
