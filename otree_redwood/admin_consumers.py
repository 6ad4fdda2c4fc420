"""The admin's live event stream: ``/redwood/events/session/<code>/``.

The live monitor page (views.MonitorView) opens this socket.  It sends:

* once, on connect, ``{"type": "snapshot", ...}``: every real-time group of
  the session as stored in the database (latest ``state`` and its time, the
  period length, the current ``group_decisions`` and those of the running
  period for the chart, the highest ``seq``);
* ``{"type": "report", ...}``: the live report that each server process
  publishes about once a second on ``rw:mon:<session>`` (who is connected,
  round-trip times, inbound messages per second), passed on as it is;
* ``{"type": "frame", "app", "group", "recipient", "frame": {...}}``: each
  server message of a group of the session, from the bus
  ``rw:bus:<session>:<app>:<pk>``.  ``group_decisions`` frames of one group
  are coalesced to at most one per ``FRAME_INTERVAL`` (the newest wins) so a
  busy session cannot flood the admin's browser; other frames pass at once.

It needs oTree's admin login whenever oTree's auth level does (see
views.admin_allowed); without it the socket is closed with code 4003.
It listens on its own Redis connection, so it adds nothing to the work of
the participants' sockets.
"""
import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf.urls import url

from . import views
from .engine import conf, keys, protocol, redis_conn
from .engine.monitorfeed import FRAME_INTERVAL, MonitorFeed  # noqa: F401  (FRAME_INTERVAL: the name tests use)

logger = logging.getLogger(__name__)

#: group_decisions maps sent in the snapshot for the chart, per group: the
#: newest of the running period, fewer for a period that has ended.
HISTORY_LIMIT = 2000
ENDED_HISTORY_LIMIT = 300


def safe_dumps(obj):
    """Strict JSON for the monitor's browser, whatever was stored (protocol.safe_dumps)."""
    return protocol.safe_dumps(obj)


def _db(fn):
    # oTree's sync thread: the admin's reads never hold up the live pipeline
    return sync_to_async(fn, thread_sensitive=True)


def session_exists(code):
    from otree.models import Session

    return Session.objects.filter(code=code).exists()


def build_snapshot(session_code):
    """The stored state of every real-time group of a session (sync)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Max

    from otree.models import Participant

    from . import exports
    from .models import Connection, Event
    from .engine.clock import epoch_ms

    connected_ids = set(
        Connection.objects.filter(participant__session__code=session_code).values_list("participant_id", flat=True)
    )
    codes = dict(Participant.objects.filter(session__code=session_code).values_list("id", "code"))
    connected = {codes[i] for i in connected_ids if i in codes}
    rows = views.group_rows(session_code)
    by_key = {(r["app"], r["group"]): r for r in rows}
    for app_name, model, groups in exports.session_groups(session_code):
        ct = ContentType.objects.get_for_model(model)
        pks = model.objects.filter(session__code=session_code).values("pk")
        mine = Event.objects.filter(content_type=ct, group_pk__in=pks)
        latest = {}
        starts = {}
        for pk, ts, value in mine.filter(channel="state").order_by("timestamp", "id").values_list(
            "group_pk", "timestamp", "value"
        ):
            latest[pk] = (value, epoch_ms(ts))
            if value == protocol.STATE_PERIOD_START:
                starts[pk] = epoch_ms(ts)
        seqs = dict(mine.values("group_pk").annotate(m=Max("seq")).values_list("group_pk", "m"))
        for g in groups:
            row = by_key[(app_name, g.pk)]
            try:
                _fill_row(row, g, mine, latest, starts, seqs, connected)
            except Exception:
                # one group's unreadable data (e.g. nested too deep to decode)
                # must not cost the admin the picture of every other group
                logger.exception("redwood monitor: could not read the state of %s group %s", app_name, g.pk)
                row.update({"state": None, "state_ms": None, "start_ms": None, "end_ms": None, "seq": 0,
                            "connected": [], "decisions": None, "history": [],
                            "error": "could not read this group's stored state"})
    return {
        "type": "snapshot",
        "session": session_code,
        "server_ts": protocol.now_ms(),
        "interval_ms": int(float(conf.get("MONITOR_INTERVAL")) * 1000),
        "groups": rows,
    }


def _fill_row(row, g, mine, latest, starts, seqs, connected):
    """Fill one group's row of the snapshot from the stored events (sync)."""
    from .models import DecisionGroup
    from .engine.clock import epoch_ms

    state, state_ms = latest.get(g.pk, (None, None))
    row["state"] = state
    row["state_ms"] = state_ms
    row["start_ms"] = starts.get(g.pk)
    length = row["period_length"]
    row["end_ms"] = (
        state_ms if state == protocol.STATE_PERIOD_END
        else (row["start_ms"] + float(length) * 1000.0 if row["start_ms"] and length else None)
    )
    row["seq"] = seqs.get(g.pk) or 0
    row["connected"] = sorted(m["code"] for m in row["members"] if m["code"] in connected)
    row["decisions"] = g.group_decisions if isinstance(g, DecisionGroup) else None
    history = []
    if row["start_ms"] is not None and isinstance(g, DecisionGroup):
        limit = HISTORY_LIMIT if state == protocol.STATE_PERIOD_START else ENDED_HISTORY_LIMIT
        newest = list(
            mine.filter(group_pk=g.pk, channel="group_decisions", timestamp__gte=_dt(row["start_ms"]))
            .order_by("-timestamp", "-id")
            .values_list("timestamp", "seq", "value")[:limit]
        )
        newest.reverse()
        history = [[epoch_ms(ts), seq, value] for ts, seq, value in newest]
    row["history"] = history


def _dt(ms):
    from .engine.clock import from_epoch_ms

    return from_epoch_ms(ms - 1)


class EventStreamConsumer(AsyncWebsocketConsumer):
    """Live feed of one session for the admin's monitor page."""

    # no channel layer: everything comes from Redis pub/sub
    channel_layer_alias = "__otree_redwood_no_layer__"

    tasks = ()
    pubsub = None
    redis = None

    async def __call__(self, receive, send):
        # also when the server cancels the consumer (shutdown) rather than
        # sending websocket.disconnect: stop the tasks, free the connection
        try:
            await super().__call__(receive, send)
        finally:
            await self._cleanup()

    async def websocket_connect(self, message):
        self.session_code = self.scope["url_route"]["kwargs"]["session_code"]
        self.redis = None
        self.pubsub = None
        self.tasks = []
        await self.accept()
        if not views.admin_allowed(self.scope.get("user")):
            logger.warning("refused anonymous access to %s", self.scope.get("path"))
            await self._refuse(protocol.CLOSE_FORBIDDEN, "admin login required")
            return
        try:
            if not await _db(session_exists)(self.session_code):
                await self._refuse(protocol.CLOSE_NOT_FOUND, "no session %s" % self.session_code)
                return
            # keys carry the database's namespace: look it up off the event loop
            # (a process whose runtime has not started has not read it yet)
            await _db(keys.namespace)()
            import redis.asyncio as aredis

            # its own connection: subscribing holds it for the life of the socket
            self.redis = aredis.Redis.from_url(redis_conn.redis_url())
            self.pubsub = self.redis.pubsub()
            self.mon_channel = keys.session_monitor(self.session_code)
            self.bus_prefix = keys.session_bus_prefix(self.session_code)
            # subscribe before reading the database: nothing falls in between
            await self.pubsub.subscribe(self.mon_channel)
            await self.pubsub.psubscribe(self.bus_prefix + "*")
            snapshot = await _db(build_snapshot)(self.session_code)
            await self.send(text_data=safe_dumps(snapshot))
        except Exception:
            logger.exception("redwood monitor of %s failed to start", self.session_code)
            await self._refuse(protocol.CLOSE_SERVER_ERROR, "server error")
            await self._cleanup()
            return
        loop = asyncio.get_event_loop()
        feed = MonitorFeed(lambda text: self.send(text_data=text), self.mon_channel, self.bus_prefix)
        self.tasks = [loop.create_task(feed.reader(self.pubsub)), loop.create_task(feed.flusher())]

    async def _refuse(self, code, reason):
        await self.send(text_data=json.dumps({"type": "error", "reason": reason, "close_code": code}))
        await self.close(code=code)

    async def receive(self, text_data=None, bytes_data=None):
        # the monitor only listens; a ping keeps proxies from closing the socket
        if text_data and '"ping"' in text_data:
            await self.send(text_data=json.dumps({"type": "pong", "server_ts": protocol.now_ms()}))

    async def _cleanup(self):
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.tasks = []
        if self.pubsub is not None:
            try:
                await self.pubsub.aclose()
            except Exception:
                pass
            self.pubsub = None
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:
                pass
            self.redis = None

    async def websocket_disconnect(self, message):
        await self._cleanup()
        await super().websocket_disconnect(message)


websocket_routes = [
    url(r"^redwood/events/session/(?P<session_code>[a-zA-Z0-9_-]+)/$", EventStreamConsumer),
]
