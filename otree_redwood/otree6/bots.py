"""Real-time bots for oTree 6's ``otree test``: the oTree 3 API (docs/bots.rst).

A bot's ``play_round`` calls ``state = play_realtime(self, strategy)``: the
first bot of a group to get there plays the whole group's period (one socket
per member, ``strategy(state)`` called ``rate`` times a second per member
once ``period_start`` came), every bot gets its own member's
:class:`BotState`, then submits the page with ``yield after_period(Decision)``.
What a state holds (messages, ``group_decisions``, ``other_decision``,
``others_mean``, ``sent``...) follows the page's own rules
(engine/client_rules.py), as on oTree 3.

How it runs on oTree 6 (design note, risk R7).  ``otree test`` drives pages
with Starlette's ``TestClient`` on the main thread's loop, inside one
``session_scope()``, and runs no lifespan.  A play runs on a helper thread
with its own event loop, which hosts our runtime (started lazily by the
first socket: attach.ensure_started and the engine's per-loop runtime) and
drives ``otree.asgi.app`` through an in-process ASGI websocket (no server,
no network).  oTree's bot thread waits meanwhile, so nothing else uses the
database connection; our writes take ``lock2`` on the helper loop.  When the
period has ended the runtime is stopped there (its last batch written), the
helper loop ends, ``lock2``'s binding to that loop is undone (an
``asyncio.Lock`` binds to the first loop it is contended on and would refuse
the next play's loop), and the bot's session forgets what it had loaded,
so it reads what the play stored.

The bots get their own Redis ``KEY_PREFIX`` (``<prefix>-bots-<random>``):
``otree test`` runs on an in-memory copy of the project's database, whose
group numbers and namespace may be those of a server of the same project.

oTree internals: ``otree/asgi.py`` ``app``; ``otree/middleware.py`` ``lock2``
(and ``asyncio.Lock``'s ``_loop`` of Python 3.10+); ``otree/database.py``
``db``; ``otree/settings.py`` (``REDWOOD`` set for the bots' prefix);
``otree/bots/bot.py`` ``Submission``, ``PlayerBot.player``.
"""
import asyncio
import logging
import random
import threading
import uuid

from ..engine import conf, protocol
from ..engine.botplay import (  # noqa: F401  (the bots' public names, as on oTree 3)
    BotError, BotState, GroupPlay, Member, actor as _actor, diagnose as _diagnose, reader as _reader,
)

logger = logging.getLogger(__name__)

DEFAULT_RATE = 4.0
DEFAULT_SLACK = 20.0
DEFAULT_START_TIMEOUT = 15.0
PROGRESS_EVERY = 5.0


# ---------------------------------------------------------------- in-process socket

class AsgiSocket:
    """A websocket on ``otree.asgi.app`` in this process, driven over ASGI messages."""

    def __init__(self, path):
        self.path, _, self.query = path.partition("?")
        self.to_app = asyncio.Queue()
        self.from_app = asyncio.Queue()
        self.task = None
        self.closed_code = None

    async def open(self, timeout):
        from otree.asgi import app

        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": self.path,
                 "raw_path": self.path.encode(), "root_path": "", "query_string": self.query.encode(),
                 "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 0),
                 "server": ("testserver", 80), "subprotocols": []}
        self.task = asyncio.ensure_future(app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        first = await asyncio.wait_for(self.from_app.get(), timeout)
        if first["type"] != "websocket.accept":
            raise BotError("socket refused: %r" % (first,))

    async def send(self, text):
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def recv(self):
        while True:
            msg = await self.from_app.get()
            if msg["type"] == "websocket.close":
                self.closed_code = msg.get("code", 1000)
                return None
            if msg["type"] == "websocket.send":
                return msg.get("text") if msg.get("text") is not None else (msg.get("bytes") or b"").decode()

    async def close(self):
        if self.task is None:
            return
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 30)
        except Exception:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def socket_path(app_name, group_pk, code):
    from .token import socket_token

    return protocol.socket_path(app_name, group_pk, code, token=socket_token(code, app_name, group_pk))


# ---------------------------------------------------------------- playing

async def aplay_group(app_name, group_pk, members, strategy=None, *, rate=DEFAULT_RATE, duration=None,
                      period_length=None, timeout=None, seed=None, connect_timeout=30.0, progress=None,
                      label=None):
    """Play one group's period on this loop with in-process sockets; a :class:`GroupPlay`."""
    members = [m if isinstance(m, Member) else Member(m) for m in members]
    loop = asyncio.get_running_loop()
    if timeout is None:
        timeout = float(duration if duration is not None else (period_length or 60.0)) + DEFAULT_SLACK
    interval = 1.0 / float(rate) if rate else 1.0
    states, socks, tasks = [], [], []
    try:
        for m in members:
            rng = random.Random("%s:%s" % (seed, m.code)) if seed is not None else random.Random()
            state = BotState(m, app_name, group_pk, rng)
            state._started, state._ended = asyncio.Event(), asyncio.Event()
            states.append(state)
            socks.append(AsgiSocket(socket_path(app_name, group_pk, m.code)))
        await asyncio.gather(*(s.open(connect_timeout) for s in socks))
        readers = [loop.create_task(_reader(k, s)) for k, s in zip(socks, states)]
        tasks.extend(readers)
        all_started = asyncio.ensure_future(asyncio.gather(*(s._started.wait() for s in states)))
        tasks.append(all_started)
        await asyncio.wait([all_started] + readers, timeout=DEFAULT_START_TIMEOUT + connect_timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if any(s.closed_code is not None for s in states):
            raise BotError(_diagnose("the server closed a socket", states))
        if not all_started.done():
            raise BotError(_diagnose("the period did not start", states))
        stop_at = loop.time() + float(duration) if duration is not None else None
        actors = [loop.create_task(_actor(k, s, strategy, interval, stop_at)) for k, s in zip(socks, states)]
        tasks.extend(actors)
        if progress:
            tasks.append(loop.create_task(_progress(states, label or "%s group %s" % (app_name, group_pk),
                                                    float(progress))))
        if duration is not None:
            waiters = [loop.create_task(asyncio.sleep(float(duration)))]
        else:
            waiters = [loop.create_task(s._ended.wait()) for s in states]
        tasks.extend(waiters)
        deadline = loop.time() + timeout
        pending = set(waiters) | set(actors)
        while not all(w.done() for w in waiters):
            done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t in actors and t.exception() is not None:
                    raise t.exception()  # a strategy raised: the bot fails with it
            if not done:
                raise BotError(_diagnose("the period did not end within %.0f s" % timeout, states))
        if any(s.closed_code is not None for s in states):
            raise BotError(_diagnose("the server closed a socket", states))
        await asyncio.gather(*actors, return_exceptions=True)
        return GroupPlay(app_name, group_pk, states)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)


async def _progress(states, label, every):
    import sys

    while True:
        await asyncio.sleep(every)
        decisions = sum(1 for s in states for channel, _ in s.sent if channel == "decisions")
        print("%s: %.1f s, %d decisions" % (label, max(s.elapsed for s in states), decisions),
              file=sys.stdout, flush=True)


async def _play_then_stop(coro_factory):
    from ..engine import runtime

    try:
        return await coro_factory()
    finally:
        rt = runtime.running()
        if rt is not None:
            # the last batch of events and group rows is written here
            await rt.stop()


def _unbind_lock2():
    """Let oTree's lock2 be used on another loop again (see the module doc)."""
    from otree.middleware import lock2

    if not lock2.locked() and not getattr(lock2, "_waiters", None) and hasattr(lock2, "_loop"):
        lock2._loop = None


def run_in_thread(coro_factory):
    """``coro_factory()`` on a new loop in a helper thread, our runtime stopped at the end."""
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(_play_then_stop(coro_factory))
        except BaseException as exc:  # noqa: B902 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="redwood-bots6", daemon=True)
    thread.start()
    thread.join()
    _unbind_lock2()
    from otree.database import db

    if db._db is not None:
        db._db.expire_all()  # the bot reads what the play stored, not its cache
    if "error" in result:
        raise result["error"]
    return result["value"]


_isolated = []


def isolate_keys():
    """A Redis KEY_PREFIX of the bots' own (``otree test``'s database is a copy)."""
    if _isolated:
        return _isolated[0]
    from otree import settings

    prefix = "%s-bots-%s" % (conf.get("KEY_PREFIX"), uuid.uuid4().hex[:10])
    settings.REDWOOD = dict(getattr(settings, "REDWOOD", None) or {}, KEY_PREFIX=prefix)
    _isolated.append(prefix)
    return prefix


def play_group(app_name, group_pk, members, strategy=None, **kwargs):
    isolate_keys()
    return run_in_thread(lambda: aplay_group(app_name, group_pk, members, strategy, **kwargs))


# ---------------------------------------------------------------- oTree bots

_registry = {}
_registry_lock = threading.Lock()


def group_members(group, player_info=None):
    members = []
    for p in sorted(group.get_players(), key=lambda p: p.id_in_group):
        info = player_info(p) if player_info is not None else None
        members.append(Member(p.participant.code, p.id_in_group, p.field_maybe_none("_role") or "", info))
    return members


def play_realtime(player_bot, strategy=None, *, player_info=None, **kwargs):
    """Play the real-time page that ``player_bot`` (an oTree ``Bot``) is on; its member's BotState.

    Arguments as on oTree 3 (``rate``, ``duration``, ``seed``, ``timeout``...);
    ``period_length`` defaults to the group's; ``state.group_play`` is the group's play.
    """
    player = player_bot.player
    group = player.group
    code = player.participant.code
    app_name = type(group).get_folder_name()
    members = group_members(group, player_info)
    key = (app_name, group.id, tuple(m.code for m in members))
    with _registry_lock:
        play = _registry.get(key)
        if play is None:
            if "period_length" not in kwargs:
                kwargs["period_length"] = group.period_length()
            kwargs.setdefault("progress", PROGRESS_EVERY)
            kwargs.setdefault("label", "%s round %s group %s" % (app_name, group.round_number,
                                                                  group.id_in_subsession))
            play = play_group(app_name, group.id, members, strategy, **kwargs)
            _registry[key] = play
        play._claimed.add(code)
        if play._claimed >= set(play.members):
            del _registry[key]
    state = play.members[code]
    state.group_play = play
    return state


def after_period(page_class, post_data=None):
    """The Submission of a real-time page, which has no submit button."""
    from otree.api import Submission

    return Submission(page_class, post_data or {}, check_html=False)


def is_bot_session(session):
    """True when the session's participants are oTree bots (``otree test``)."""
    return any(p._is_bot for p in session.get_participants())
