"""Headless real-time bots: play a redwood page over its WebSocket.

oTree's bots (``otree test``) drive pages with Django's test client: they
load a page and post its form, and they run no JavaScript.  A redwood page
does its work over a WebSocket while it is open, so an oTree bot alone
cannot play it.  This module speaks the redwood protocol from Python: it
connects one socket per member of a group, lets each member follow a
*strategy* while the period runs, records everything each member receives,
and returns when the server has ended the period.

The guide, with a complete ``tests.py``, is docs/bots.rst ("Bots" in the
documentation).  In short: a bot's ``play_round`` calls
``play_realtime(self, strategy)``, which plays the whole group's period (the
first bot of the group to get there plays for every member), then submits
the page with ``yield after_period(pages.Decide)``.  While a period runs,
``play_realtime`` prints a progress line every ``PROGRESS_EVERY`` seconds.
"""
import asyncio
import atexit
import logging
import random
import threading
import uuid

from .engine.botplay import (  # noqa: F401  (the public names of 0.9.x-era bots live here too)
    BotError, BotState, GroupPlay, Member, actor as _actor, diagnose as _diagnose, reader as _reader,
)

logger = logging.getLogger(__name__)

#: Strategy calls per second and member, unless told otherwise.
DEFAULT_RATE = 4.0
#: Seconds allowed, beyond the period length, for connecting and for the
#: server to end the period before a play is given up.
DEFAULT_SLACK = 20.0
#: Seconds to wait for the period to start once every member is connected.
DEFAULT_START_TIMEOUT = 15.0
#: Seconds between two progress lines of play_realtime() (None: silent).
PROGRESS_EVERY = 5.0


# ---------------------------------------------------------------- transports


def socket_path(app_name, group_pk, code):
    """The URL path (with the signed token) of one member's socket."""
    from .engine import protocol
    from .groups import socket_token

    return protocol.socket_path(app_name, group_pk, code, token=socket_token(code, app_name, group_pk))


class _InProcessSocket:
    """A socket on oTree's ASGI application in this process (no server)."""

    def __init__(self, path):
        from channels.testing import WebsocketCommunicator
        from otree.channels.routing import application

        self.comm = WebsocketCommunicator(application, path)
        self.closed_code = None

    async def open(self, timeout):
        connected, code = await self.comm.connect(timeout=timeout)
        if not connected:
            raise BotError("socket refused (close code %s)" % code)

    async def send(self, text):
        await self.comm.send_to(text_data=text)

    async def recv(self):
        """The next text frame, or None once the socket is closed."""
        # Read the queue directly: WebsocketCommunicator.receive_output()
        # cancels the application when its timeout expires.
        out = await self.comm.output_queue.get()
        if out["type"] == "websocket.close":
            self.closed_code = out.get("code")
            return None
        return out.get("text")

    async def close(self):
        try:
            await self.comm.disconnect(timeout=5)
        except Exception:
            logger.debug("in-process socket close failed", exc_info=True)


class _NetworkSocket:
    """A socket to a running server (``ws://host:port``)."""

    def __init__(self, url):
        self.url = url
        self.ws = None
        self.closed_code = None

    async def open(self, timeout):
        import websockets

        try:
            self.ws = await websockets.connect(self.url, open_timeout=timeout, max_size=None)
        except Exception as exc:
            raise BotError("cannot connect to %s: %s" % (self.url, exc)) from exc

    async def send(self, text):
        await self.ws.send(text)

    async def recv(self):
        import websockets

        try:
            return await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            self.closed_code = getattr(exc, "code", None) or getattr(getattr(exc, "rcvd", None), "code", None)
            return None

    async def close(self):
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                logger.debug("socket close failed", exc_info=True)


def _ws_base(server):
    base = server.rstrip("/")
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):]
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):]
    return base


def _make_socket(server, path):
    if server is None:
        return _InProcessSocket(path)
    return _NetworkSocket(_ws_base(server) + path)


# ---------------------------------------------------------------- playing


def _as_member(m):
    if isinstance(m, Member):
        return m
    if isinstance(m, str):
        return Member(m)
    if isinstance(m, dict):
        return Member(m["code"], m.get("id_in_group"), m.get("role", ""), m.get("info"))
    raise TypeError("a member is a Member, a participant code or a dict")


async def _progress(states, label, length, every, out):
    """Print how far the period is, every ``every`` seconds (long bot runs are silent otherwise)."""
    while True:
        await asyncio.sleep(every)
        elapsed = max(s.elapsed for s in states)
        decisions = sum(1 for s in states for channel, _ in s.sent if channel == "decisions")
        of = " of %.0f s" % float(length) if length else ""
        print("%s: %.1f s%s, %d decisions" % (label, elapsed, of, decisions), file=out, flush=True)


async def aplay_group(app_name, group_pk, members, strategy=None, *, rate=DEFAULT_RATE, server=None,
                      duration=None, period_length=None, timeout=None, seed=None, connect_timeout=10.0,
                      progress=None, label=None):
    """Play one group's period on the running event loop; return a :class:`GroupPlay`.

    ``members``: participant codes, :class:`Member` objects or dicts (code,
    id_in_group, role, info).  ``strategy(state)`` is called ``rate`` times a
    second for each member once the period has started.  The play ends when
    every member has received ``period_end``, or after ``duration`` seconds
    of play when given (groups without a period end).  ``timeout``: seconds
    before :class:`BotError` (default: period length or duration, plus
    ``DEFAULT_SLACK``).  ``server``: None for in-process sockets, else the
    server's base URL.  ``progress``: print a line every that many seconds
    while the period runs (``label``: how the line names the group).
    """
    from .engine import runtime

    members = [_as_member(m) for m in members]
    if not members:
        raise ValueError("no members to play for")
    loop = asyncio.get_event_loop()
    own_runtime = False
    if server is None:
        # in-process sockets run the real-time engine on this loop; stop it
        # afterwards only if this call started it
        own_runtime = not runtime.get_runtime().started
        await runtime.ensure_started()
    if timeout is None:
        base = duration if duration is not None else (period_length or 60.0)
        timeout = float(base) + DEFAULT_SLACK
    interval = 1.0 / float(rate) if rate else 1.0
    states, socks, tasks = [], [], []
    try:
        for m in members:
            rng = random.Random("%s:%s" % (seed, m.code)) if seed is not None else random.Random()
            state = BotState(m, app_name, group_pk, rng)
            state._started = asyncio.Event()
            state._ended = asyncio.Event()
            states.append(state)
            socks.append(_make_socket(server, socket_path(app_name, group_pk, m.code)))
        await asyncio.gather(*(s.open(connect_timeout) for s in socks))
        for sock, state in zip(socks, states):
            tasks.append(loop.create_task(_reader(sock, state)))
        deadline = loop.time() + timeout
        all_started = asyncio.ensure_future(asyncio.gather(*(s._started.wait() for s in states)))
        readers = list(tasks)
        tasks.append(all_started)
        # a socket refused or closed before the start fails the play at once
        done, _ = await asyncio.wait(
            [all_started] + readers, timeout=min(timeout, DEFAULT_START_TIMEOUT + connect_timeout),
            return_when=asyncio.FIRST_COMPLETED,
        )
        closed = [s for s in states if s.closed_code is not None]
        if closed:
            raise BotError(_diagnose("the server closed a socket", closed))
        if not all_started.done():
            raise BotError(_diagnose("the period did not start", states))
        stop_at = loop.time() + float(duration) if duration is not None else None
        actors = [loop.create_task(_actor(sock, state, strategy, interval, stop_at))
                  for sock, state in zip(socks, states)]
        tasks.extend(actors)
        if progress:
            import sys

            tasks.append(loop.create_task(_progress(
                states, label or "%s group %s" % (app_name, group_pk),
                duration if duration is not None else period_length, float(progress), sys.stdout)))
        if duration is not None:
            waiters = [loop.create_task(asyncio.sleep(float(duration)))]
        else:
            waiters = [loop.create_task(s._ended.wait()) for s in states]
        tasks.extend(waiters)
        pending = set(waiters) | set(actors)
        while True:
            done, pending = await asyncio.wait(
                pending, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            for t in done:
                if t in actors and t.exception() is not None:
                    raise t.exception()  # a strategy raised: the bot fails with it
            if all(w.done() for w in waiters):
                break
            if not done:
                raise BotError(_diagnose("the period did not end within %.0f s" % timeout, states))
        closed = [s for s in states if s.closed_code is not None]
        if closed:
            raise BotError(_diagnose("the server closed a socket", closed))
        if duration is None:
            # the period is over; let the actors notice before closing
            await asyncio.gather(*actors, return_exceptions=True)
        return GroupPlay(app_name, group_pk, states)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)
        if own_runtime:
            await stop_runtime(runtime.get_runtime())


async def stop_runtime(rt):
    """``rt.stop()``, insisting until it returns.

    A task of the runtime can swallow its cancellation (seen on Python 3.8:
    the scheduler went on looping) and ``stop()`` would then wait for it for
    ever; cancelling again gets it out.
    """
    stopper = asyncio.ensure_future(rt.stop())
    while not stopper.done():
        await asyncio.wait([stopper], timeout=1.0)
        if not stopper.done():
            pending = [t for t in rt.tasks.values() if not t.done()]
            logger.warning("otree-redwood runtime did not stop; cancelling again: %r",
                           [getattr(t.get_coro(), "__qualname__", t) for t in pending])
            for t in pending:
                t.cancel()
    stopper.result()


async def aplay_groups(plays, **common):
    """Play several groups at once: ``plays`` is a list of dicts of
    :func:`aplay_group` arguments (``app_name``, ``group_pk``, ``members``,
    ...); ``common`` holds the arguments they share.  Returns the
    :class:`GroupPlay` list in the same order."""
    from .engine import runtime

    own_runtime = common.get("server") is None and not runtime.get_runtime().started
    if common.get("server") is None:
        await runtime.ensure_started()
    try:
        return await asyncio.gather(*(aplay_group(**dict(common, **p)) for p in plays))
    finally:
        if own_runtime:
            await stop_runtime(runtime.get_runtime())


def run_in_thread(coro_factory):
    """Run ``coro_factory()`` on a new event loop in a helper thread; wait for it.

    oTree's bot runner is synchronous, and may be called from a thread that
    has a loop of its own; a helper thread keeps the two apart.
    """
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: B902 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="redwood-bots", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def play_group(app_name, group_pk, members, strategy=None, **kwargs):
    """Synchronous :func:`aplay_group` (runs it in a helper thread)."""
    if kwargs.get("server") is None:
        isolate_private_database()
    return run_in_thread(lambda: aplay_group(app_name, group_pk, members, strategy, **kwargs))


# ---------------------------------------------------------------- oTree bots

_registry = {}
_registry_lock = threading.Lock()


def _role(player):
    role = getattr(player, "role", "")
    try:
        return role() if callable(role) else (role or "")
    except Exception:
        return ""


def group_members(group, player_info=None):
    """:class:`Member` list of an oTree group, by id_in_group."""
    members = []
    for p in sorted(group.get_players(), key=lambda p: p.id_in_group):
        info = player_info(p) if player_info is not None else None
        members.append(Member(p.participant.code, p.id_in_group, _role(p), info))
    return members


def play_realtime(player_bot, strategy=None, *, player_info=None, **kwargs):
    """Play the real-time page that ``player_bot`` (an oTree ``PlayerBot``) is on.

    The first bot of a group to call it plays the whole group's period (see
    the module documentation); every bot gets its own member's
    :class:`BotState`, whose ``group_play`` attribute is the
    :class:`GroupPlay` of the group.  Other arguments: see
    :func:`aplay_group`; ``period_length`` defaults to the group's.
    """
    player = player_bot.player
    group = player.group
    code = player.participant.code
    app_name = group._meta.app_config.name
    members = group_members(group, player_info)
    key = (app_name, group.pk, tuple(m.code for m in members))
    with _registry_lock:
        play = _registry.get(key)
        if play is None:
            if "period_length" not in kwargs and callable(getattr(group, "period_length", None)):
                kwargs["period_length"] = group.period_length()
            # `otree test` shows nothing else while a period runs
            kwargs.setdefault("progress", PROGRESS_EVERY)
            kwargs.setdefault("label", "%s round %s group %s" % (
                app_name, getattr(group, "round_number", "?"), getattr(group, "id_in_subsession", group.pk)))
            play = play_group(app_name, group.pk, members, strategy, **kwargs)
            _registry[key] = play
        play._claimed.add(code)
        if play._claimed >= set(play.members):
            del _registry[key]  # every member's bot has its state: forget it
    state = play.members[code]
    state.group_play = play
    return state


def after_period(page_class, post_data=None):
    """The Submission of a real-time page, which has no submit button."""
    from otree.api import Submission

    return Submission(page_class, post_data or {}, check_html=False)


def is_bot_session(session):
    """True when the session's participants are oTree bots (``otree test``).

    Apps use it to give bots a short period (session config field
    ``bot_period_length``) without shortening the humans' one.
    """
    known = _bot_sessions.get(session.code)
    if known is None:
        # fixed when the session is created: one query per session, not per call
        known = session.participant_set.filter(_is_bot=True).exists()
        if len(_bot_sessions) >= 1000:
            _bot_sessions.clear()
        _bot_sessions[session.code] = known
    return known


_bot_sessions = {}


# ---------------------------------------------------------------- isolation

_isolated_prefix = None


def isolate_private_database():
    """Give in-process bots on a private test database their own Redis keys.

    ``otree test`` plays on an in-memory (or ``test_``) database whose group
    numbers restart at 1; sharing the Redis key prefix with a server of the
    same project would mix their live decisions and let that server's
    scheduler claim the bots' timers.  The prefix is made unique to this
    process and its keys are deleted at exit.  Does nothing on a database
    other processes may share.
    """
    global _isolated_prefix
    from django.conf import settings
    from django.db import connection

    from .engine import conf

    if _isolated_prefix is not None:
        return _isolated_prefix
    name = str(connection.settings_dict.get("NAME") or "")
    in_memory = connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)
    test_db = connection.vendor != "sqlite" and name.startswith("test_") and _in_test_environment()
    if not (in_memory or test_db):
        return None
    prefix = "%s-bots-%s" % (conf.get("KEY_PREFIX"), uuid.uuid4().hex[:10])
    settings.REDWOOD = dict(getattr(settings, "REDWOOD", None) or {}, KEY_PREFIX=prefix)
    _isolated_prefix = prefix
    atexit.register(_delete_prefix, prefix)
    return prefix


def _in_test_environment():
    from django.core import mail

    return hasattr(mail, "outbox")


def _delete_prefix(prefix):
    try:
        from .engine import redis_conn

        r = redis_conn.get_sync()
        batch = []
        for k in r.scan_iter(match=prefix + ":*", count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                r.delete(*batch)
                batch = []
        if batch:
            r.delete(*batch)
    except Exception:
        logger.debug("could not delete the bots' Redis keys", exc_info=True)
